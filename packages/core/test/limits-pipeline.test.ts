import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createFalgate, type LimitsOptions } from "../src/index.js";

/*
 * The limits inside the pipeline: who a call is counted against, the headers on answers, the usage route and
 * endJob, through falgate.handle with a real upstream on loopback.
 */

let upstream: { url: string; close(): Promise<void>; seen: number };
beforeAll(async () => {
  let seen = 0;
  const server = createServer((req, res) => {
    seen++;
    req.resume();
    res.writeHead(200, {
      "content-type": "application/json",
      "x-fal-billable-units": "1",
      "x-fal-request-id": `0b3a5b9e-3c31-4f7c-a8b1-${String(seen).padStart(12, "0")}`,
    });
    res.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  upstream = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
    get seen() {
      return seen;
    },
  };
});
afterAll(() => upstream.close());

const silent = { warn: () => {}, error: () => {} };
const call = (headers: Record<string, string> = {}) =>
  new Request("http://app.test/api/fal/proxy", {
    method: "POST",
    headers: {
      "x-fal-target-url": "https://fal.run/fal-ai/flux/dev",
      "content-type": "application/json",
      ...headers,
    },
    body: "{}",
  });

describe("who the limits count", () => {
  test("anonymous callers by the address the binding saw, IPv6 by its /64; signed-in callers by their id", async () => {
    const falgate = createFalgate({
      credentials: "k:s",
      upstream: upstream.url,
      allowUnauthenticated: true,
      allowedHosts: ["app.test"],
      logger: silent,
      limits: { rate: "1/min" },
    });
    const status = async (ip: string | null) => (await falgate.handle(call(), { context: {}, ip })).status;
    expect(await status("203.0.113.7")).toBe(200);
    expect(await status("203.0.113.7")).toBe(429);
    expect(await status("203.0.113.8")).toBe(200);
    expect(await status("2001:db8:1:2::1")).toBe(200);
    expect(await status("2001:db8:1:2:ffff::9")).toBe(429);
    const signedIn = createFalgate({
      credentials: "k:s",
      upstream: upstream.url,
      authorize: (request) => ({ id: request.headers.get("x-user") ?? "u" }),
      logger: silent,
      limits: { rate: "1/min" },
    });
    expect((await signedIn.handle(call({ "x-user": "a" }), { context: {}, ip: "10.0.0.1" })).status).toBe(
      200,
    );
    expect((await signedIn.handle(call({ "x-user": "b" }), { context: {}, ip: "10.0.0.1" })).status).toBe(
      200,
    );
    expect((await signedIn.handle(call({ "x-user": "a" }), { context: {}, ip: "10.0.0.2" })).status).toBe(
      429,
    );
  });

  test("with trustProxy, the last x-forwarded-for entry (what your proxy saw), never the client's claims", async () => {
    const falgate = createFalgate({
      credentials: "k:s",
      upstream: upstream.url,
      allowUnauthenticated: true,
      allowedHosts: ["app.test"],
      trustProxy: true,
      logger: silent,
      limits: { rate: "1/min" },
    });
    const status = async (forwarded: string) =>
      (await falgate.handle(call({ "x-forwarded-for": forwarded }), { context: {}, ip: "10.0.0.1" })).status;
    expect(await status("198.51.100.1, 192.0.2.9")).toBe(200);
    // A different claimed client, the same address seen by the proxy: the same caller.
    expect(await status("198.51.100.2, 192.0.2.9")).toBe(429);
    expect(await status("198.51.100.1, 192.0.2.10")).toBe(200);
  });
});

describe("the default mint rate and the shared anonymous key", () => {
  const mint = () =>
    new Request("http://app.test/api/fal/proxy/token", {
      method: "POST",
      headers: { "content-type": "application/json", "sec-fetch-site": "same-origin" },
      body: JSON.stringify({ app: "fal-ai/echo/realtime" }),
    });
  const instance = (limits?: LimitsOptions) =>
    createFalgate({
      credentials: "k:s",
      upstream: upstream.url,
      tokens: { secret: "limits-pipeline-secret-of-at-least-32-bytes" },
      allowedHosts: ["app.test"],
      logger: silent,
      ...(limits ? { limits } : {}),
    });
  const statuses = async (falgate: ReturnType<typeof createFalgate>, n: number, ip?: string) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await falgate.handle(mint(), { context: {}, ip })).status);
    return out;
  };

  test("without an address, anonymous mints are not held to the default 60/min (one bucket for everyone)", async () => {
    const falgate = instance();
    expect(await statuses(falgate, 62)).toEqual(Array(62).fill(200));
  });

  test("with an address, the default 60/min counts each address", async () => {
    const falgate = instance();
    expect(await statuses(falgate, 61, "203.0.113.7")).toEqual([...Array(60).fill(200), 429]);
    expect(await statuses(falgate, 1, "203.0.113.8")).toEqual([200]);
  });

  test("a configured rate (tokens.rate, or rate) still applies to the shared anonymous key", async () => {
    expect(await statuses(instance({ tokens: { rate: "2/min" } }), 3)).toEqual([200, 200, 429]);
    expect(await statuses(instance({ rate: "2/min" }), 3)).toEqual([200, 200, 429]);
  });
});

describe("what a page can read", () => {
  test("RateLimit headers on allowed answers, the usage route, and endJob for a job whose end came by webhook", async () => {
    const falgate = createFalgate({
      credentials: "k:s",
      upstream: upstream.url,
      authorize: () => ({ id: "alice" }),
      logger: silent,
      limits: { rate: "5/min", maxConcurrent: 1, budget: "10/day" },
    });
    const answer = await falgate.handle(call(), { context: {} });
    expect(answer.headers.get("ratelimit")).toMatch(/"rate";r=4/);
    await answer.text();
    const usage = await falgate.handle(new Request("http://app.test/api/fal/proxy/usage"), { context: {} });
    expect(await usage.json()).toMatchObject({
      principal: "alice",
      rate: { limit: 5, remaining: 4 },
      concurrency: { limit: 1, inFlight: 0 },
      budget: { limit: 10, spent: 1 },
    });
    expect(await falgate.usage("alice")).toMatchObject({ budget: { spent: 1 } });
  });

  test("endJob frees a queue job's slot when the app learns of its end itself (a fal webhook)", async () => {
    const falgate = createFalgate({
      credentials: "k:s",
      upstream: upstream.url,
      authorize: () => ({ id: "carol" }),
      logger: silent,
      limits: { maxConcurrent: 1 },
    });
    const submit = () =>
      falgate.handle(call({ "x-fal-target-url": "https://queue.fal.run/fal-ai/flux/dev" }), { context: {} });
    const first = await submit();
    const requestId = first.headers.get("x-fal-request-id")!;
    await first.text();
    // The job holds the one slot until falgate sees it end.
    expect((await submit()).status).toBe(429);
    await falgate.endJob("carol", requestId);
    expect((await submit()).status).toBe(200);
  });
});
