import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createFalgate, type FalgateOptions } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import express from "express";
import { Hono } from "hono";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createMetrics, type FalgateMetrics } from "../src/index.js";

const PROXY = "http://app.test/api/fal/proxy";
let mock: MockFal;

beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());

function instance(options: FalgateOptions = {}) {
  const falgate = createFalgate({
    credentials: mock.key,
    upstream: mock.url,
    allowUnauthenticated: true,
    allowedEndpoints: ["fal-ai/*"],
    // PROXY's host is not loopback: listed, as a deployment would (the DNS rebinding check).
    allowedHosts: ["app.test"],
    logger: { warn: () => undefined, error: () => undefined },
    ...options,
  });
  const call = async (target: string, init: RequestInit = {}) => {
    const response = await falgate.fetch(
      new Request(PROXY, {
        method: "POST",
        body: JSON.stringify({ prompt: "x" }),
        ...init,
        headers: { "content-type": "application/json", "x-fal-target-url": target },
      }),
    );
    await response.arrayBuffer();
    return response.status;
  };
  return { falgate, call };
}

/** The value of falgate_calls_total per label set, read through prom-client. */
async function callCounts(
  metrics: FalgateMetrics,
): Promise<Array<{ labels: Record<string, unknown>; value: number }>> {
  const metric = metrics.registry.getSingleMetric("falgate_calls_total");
  if (!metric) throw new Error("falgate_calls_total is not registered");
  return (await metric.get()).values.map(({ labels, value }) => ({ labels: { ...labels }, value }));
}

describe("createMetrics", () => {
  test("labels stay bounded: apps past maxApps count as other, refused names as none, odd methods as other", async () => {
    const { falgate, call } = instance();
    const metrics = createMetrics(falgate, { maxApps: 2 });
    expect(await call("https://fal.run/fal-ai/one")).toBe(200);
    expect(await call("https://fal.run/fal-ai/two/sub/path")).toBe(200);
    expect(await call("https://fal.run/fal-ai/three")).toBe(200);
    expect(await call("https://fal.run/fal-ai/one")).toBe(200);
    expect(await call("https://fal.run/attacker/random-name-1")).toBe(403);
    expect(await call("https://fal.run/fal-ai/one", { method: "PROPFIND" })).toBe(405);
    const apps = (await callCounts(metrics)).map(({ labels, value }) => [
      labels.app,
      labels.method,
      labels.code,
      value,
    ]);
    expect(apps).toEqual(
      expect.arrayContaining([
        ["fal-ai/one", "POST", "none", 2],
        ["fal-ai/two", "POST", "none", 1],
        ["other", "POST", "none", 1],
        ["none", "POST", "endpoint_not_allowed", 1],
        ["none", "other", "method_not_allowed", 1],
      ]),
    );
    expect(apps).toHaveLength(5);
  });

  test("one registry, several instances: the observer subscribes the others; close() stops counting", async () => {
    const registry = new Registry();
    const a = instance();
    const b = instance();
    const metrics = createMetrics(a.falgate, { registry });
    expect(() => createMetrics(b.falgate, { registry })).toThrow(/already holds/);
    const stopB = b.falgate.observe(metrics.observer);
    await a.call("https://fal.run/fal-ai/one");
    await b.call("https://fal.run/fal-ai/one");
    const total = async () => (await callCounts(metrics)).reduce((sum, { value }) => sum + value, 0);
    expect(await total()).toBe(2);
    metrics.close();
    stopB();
    await a.call("https://fal.run/fal-ai/one");
    await b.call("https://fal.run/fal-ai/one");
    expect(await total()).toBe(2);
    expect(await registry.metrics()).toContain("falgate_calls_total");
  });

  test("validates its options", () => {
    const { falgate } = instance();
    expect(() => createMetrics(falgate, { maxApps: -1 })).toThrow(TypeError);
    expect(() => createMetrics(falgate, { buckets: { own: [1, 0.5] } })).toThrow(/buckets\.own/);
    expect(() => createMetrics(falgate, { buckets: { tunnel: [] } })).toThrow(/buckets\.tunnel/);
    expect(() => createMetrics(falgate, { registry: {} as Registry })).toThrow(/registry/);
  });

  test("mounts in one line: Express (node handler), Hono and Next route handlers (fetch handler)", async () => {
    const { falgate, call } = instance();
    const metrics = createMetrics(falgate);
    await call("https://fal.run/fal-ai/one");

    const app = express();
    app.get("/metrics", metrics.node);
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(metrics.contentType);
      expect(await res.text()).toMatch(/^falgate_calls_total\{.*app="fal-ai\/one".*\} 1$/m);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    const hono = new Hono();
    hono.get("/metrics", (c) => metrics.fetch(c.req.raw));
    const honoRes = await hono.request("/metrics");
    expect(honoRes.status).toBe(200);
    expect(await honoRes.text()).toContain('app="fal-ai/one"');

    // app/metrics/route.ts: `export const GET = metrics.fetch;`
    const GET: (request: Request) => Promise<Response> = metrics.fetch;
    const nextRes = await GET(new Request("http://app.test/metrics"));
    expect(await nextRes.text()).toContain("# TYPE falgate_calls_total counter");
    expect((await metrics.fetch(new Request("http://app.test/metrics", { method: "POST" }))).status).toBe(
      405,
    );
    expect(await metrics.text()).toBe(await metrics.registry.metrics());
  });
});
