import type { Logger } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RunningServer, type ServerOptions, startServer } from "../src/index.js";
import { rawRequest, readAll, readUntil, send } from "./helpers.js";
import { parseExposition, type Sample, sampleValue } from "./prom.js";

const SECRET = "metrics-test-secret-0123456789abcdef0123";
const silent: Logger = { warn: () => undefined, error: () => undefined };
let mock: MockFal;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  // Slow enough streams to observe a call in flight.
  mock = await startMockFal({ runMs: 400 });
});
afterAll(() => mock.close());
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function server(options: ServerOptions = {}): Promise<RunningServer & { proxy: string }> {
  const running = await startServer({
    port: 0,
    credentials: mock.key,
    upstream: mock.url,
    logger: silent,
    tokens: { secret: SECRET },
    // fal tokens need the app named: `fal-ai/*` alone cannot pin an alias to its owner.
    allowedEndpoints: ["fal-ai/*", "fal-ai/echo"],
    authorize: (request) => {
      const user = request.headers.get("x-user");
      return user ? { id: user } : null;
    },
    metrics: true,
    ...options,
  });
  cleanups.push(running.close);
  return { ...running, proxy: `${running.url}/api/fal/proxy` };
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await send(url);
  expect(res.status).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = res.text;
  return { text, samples: parseExposition(text) };
}

const json = (user: string | null) => ({
  "content-type": "application/json",
  ...(user === null ? {} : { "x-user": user }),
});
const target = (url: string, user: string | null = "alice") => ({ ...json(user), "x-fal-target-url": url });

/** Waits until `check` holds for a fresh scrape (a tunnel's end is reported after its sockets closed). */
async function eventually(url: string, check: (samples: Sample[]) => boolean): Promise<Sample[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { samples } = await scrape(url);
    if (check(samples)) return samples;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("the metrics never got there");
}

describe("Prometheus metrics on the standalone server", () => {
  test("every series, from real calls through a real server to mock-fal", async () => {
    const s = await server();
    const metricsUrl = s.metricsUrl!;
    expect(metricsUrl).toBe(`${s.url}/metrics`);
    const body = JSON.stringify({ prompt: "a lighthouse" });

    // A forwarded call.
    const ok = await send(s.proxy, {
      method: "POST",
      headers: target("https://fal.run/fal-ai/fast-sdxl/turbo"),
      body,
    });
    expect(ok.status).toBe(200);
    const requestId = String(ok.headers["x-fal-request-id"]);
    const units = Number(ok.headers["x-fal-billable-units"]);
    expect(units).toBeGreaterThan(0);
    // Refusals: not allowed by the endpoint policy (a name the caller chose), and no principal.
    expect(
      (await send(s.proxy, { method: "POST", headers: target("https://fal.run/someone/else"), body })).status,
    ).toBe(403);
    expect(
      (
        await send(s.proxy, {
          method: "POST",
          headers: target("https://fal.run/fal-ai/fast-sdxl", null),
          body,
        })
      ).status,
    ).toBe(401);
    // Token mints: a falgate token (answered by falgate), a fal token from the token route and through the proxy.
    const minted = await send(`${s.proxy}/token`, {
      method: "POST",
      headers: json("bob"),
      body: JSON.stringify({ app: "fal-ai/echo" }),
    });
    expect(minted.status).toBe(200);
    const token = JSON.parse(minted.text) as string;
    expect(
      (
        await send(`${s.proxy}/token`, {
          method: "POST",
          headers: json("bob"),
          body: JSON.stringify({ app: "fal-ai/echo", type: "fal" }),
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await send(s.proxy, {
          method: "POST",
          headers: target("https://rest.fal.ai/tokens/", "bob"),
          body: JSON.stringify({ allowed_apps: ["echo"], token_expiration: 60 }),
        })
      ).status,
    ).toBe(200);

    // A call in flight: a streamed answer, scraped after its first bytes and again after its end.
    const streaming = rawRequest(s.proxy, {
      method: "POST",
      headers: {
        ...target("https://fal.run/fal-ai/fast-sdxl/stream"),
        "content-length": String(body.length),
      },
    });
    streaming.req.end(body);
    const streamRes = await streaming.response;
    const seen = { text: "" };
    await readUntil(streamRes, "keep-alive", seen);
    let { samples } = await scrape(metricsUrl);
    expect(sampleValue(samples, "falgate_calls_in_flight", { route: "proxy", app: "fal-ai/fast-sdxl" })).toBe(
      1,
    );
    const streamedBytes = Buffer.byteLength(seen.text) + (await readAll(streamRes)).length;

    // A tunnel session: two frames each way.
    const ws = new WebSocket(
      `${s.url.replace("http", "ws")}/api/fal/proxy/fal-ai/echo/realtime?fal_jwt_token=${token}`,
    );
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    samples = (await scrape(metricsUrl)).samples;
    expect(sampleValue(samples, "falgate_tunnels_open", { app: "fal-ai/echo" })).toBe(1);
    const echoed = new Promise<void>((resolve) => {
      let n = 0;
      ws.on("message", () => {
        if (++n === 2) resolve();
      });
    });
    ws.send("hello");
    ws.send(Buffer.alloc(100), { binary: true });
    await echoed;
    ws.close(1000);

    samples = await eventually(
      metricsUrl,
      (list) =>
        sampleValue(list, "falgate_tunnels_total", { app: "fal-ai/echo", reason: "client-closed" }) === 1,
    );
    const text = (await scrape(metricsUrl)).text;

    // Calls by route, app, method, decision, code and status.
    const calls = (labels: Record<string, string>) => sampleValue(samples, "falgate_calls_total", labels);
    expect(
      calls({
        route: "proxy",
        app: "fal-ai/fast-sdxl",
        method: "POST",
        decision: "forwarded",
        code: "none",
        status: "200",
      }),
    ).toBe(2);
    expect(
      calls({
        route: "proxy",
        app: "none",
        method: "POST",
        decision: "refused",
        code: "endpoint_not_allowed",
      }),
    ).toBe(1);
    expect(
      calls({ route: "proxy", app: "none", decision: "refused", code: "unauthenticated", status: "401" }),
    ).toBe(1);
    expect(
      calls({ route: "token", app: "fal-ai/echo", decision: "answered", code: "none", status: "200" }),
    ).toBe(1);
    expect(
      calls({ route: "token", app: "fal-ai/echo", decision: "forwarded", code: "none", status: "200" }),
    ).toBe(1);
    expect(calls({ route: "proxy", app: "none", decision: "forwarded", code: "none", status: "200" })).toBe(
      1,
    );

    // Latency: falgate's own time and fal's time, and the whole call.
    const count = (name: string, labels: Record<string, string>) =>
      sampleValue(samples, `${name}_count`, labels);
    expect(
      count("falgate_own_seconds", { route: "proxy", app: "fal-ai/fast-sdxl", decision: "forwarded" }),
    ).toBe(2);
    expect(count("falgate_own_seconds", { route: "proxy", app: "none", decision: "refused" })).toBe(2);
    expect(count("falgate_upstream_seconds", { route: "proxy", app: "fal-ai/fast-sdxl" })).toBe(2);
    expect(count("falgate_upstream_seconds", { route: "token", app: "fal-ai/echo" })).toBe(1);
    expect(
      count("falgate_call_seconds", { route: "proxy", app: "fal-ai/fast-sdxl", decision: "forwarded" }),
    ).toBe(2);
    const streamed = sampleValue(samples, "falgate_call_seconds_sum", {
      route: "proxy",
      app: "fal-ai/fast-sdxl",
      decision: "forwarded",
    })!;
    expect(streamed).toBeGreaterThan(0.25); // the stream took most of runMs (400 ms)
    expect(
      sampleValue(samples, "falgate_upstream_seconds_bucket", {
        route: "proxy",
        app: "fal-ai/fast-sdxl",
        le: "+Inf",
      }),
    ).toBe(2);

    // Bytes, in-flight back to 0, billable units, token mints.
    expect(
      sampleValue(samples, "falgate_request_bytes_total", { route: "proxy", app: "fal-ai/fast-sdxl" }),
    ).toBe(2 * body.length);
    expect(
      sampleValue(samples, "falgate_response_bytes_total", { route: "proxy", app: "fal-ai/fast-sdxl" }),
    ).toBe(ok.body.length + streamedBytes);
    expect(sampleValue(samples, "falgate_calls_in_flight", { route: "proxy", app: "fal-ai/fast-sdxl" })).toBe(
      0,
    );
    expect(
      sampleValue(samples, "falgate_billable_units_total", { app: "fal-ai/fast-sdxl" }),
    ).toBeGreaterThanOrEqual(units);
    expect(sampleValue(samples, "falgate_token_mints_total", { app: "fal-ai/echo", kind: "falgate" })).toBe(
      1,
    );
    expect(sampleValue(samples, "falgate_token_mints_total", { app: "fal-ai/echo", kind: "fal" })).toBe(1);
    expect(sampleValue(samples, "falgate_token_mints_total", { app: "none", kind: "fal" })).toBe(1);

    // The tunnel: open gauge back to 0, frames and bytes both ways, session length.
    expect(sampleValue(samples, "falgate_tunnels_open", { app: "fal-ai/echo" })).toBe(0);
    expect(sampleValue(samples, "falgate_tunnel_frames_total", { app: "fal-ai/echo", direction: "in" })).toBe(
      2,
    );
    expect(
      sampleValue(samples, "falgate_tunnel_frames_total", { app: "fal-ai/echo", direction: "out" }),
    ).toBe(2);
    expect(sampleValue(samples, "falgate_tunnel_bytes_total", { app: "fal-ai/echo", direction: "in" })).toBe(
      105,
    );
    expect(sampleValue(samples, "falgate_tunnel_bytes_total", { app: "fal-ai/echo", direction: "out" })).toBe(
      105,
    );
    expect(sampleValue(samples, "falgate_tunnel_seconds_count", { app: "fal-ai/echo" })).toBe(1);

    // Node process metrics, prefixed too.
    expect(sampleValue(samples, "falgate_process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(samples.some((sample) => sample.name.startsWith("falgate_nodejs_"))).toBe(true);

    // Every series is falgate's; principals, request ids and tokens never become labels.
    expect(samples.every((sample) => sample.name.startsWith("falgate_"))).toBe(true);
    for (const secretish of ["alice", "bob", requestId, token, mock.key])
      expect(text).not.toContain(secretish);
  });

  test("limit refusals by code, budget spend by app, and refused tunnels", async () => {
    const running = await server({ limits: { rate: "2/min", budget: "100/day" } });
    for (let i = 0; i < 3; i++) {
      await send(running.proxy, {
        method: "POST",
        headers: target("https://fal.run/fal-ai/fast-sdxl"),
        body: '{"prompt":"a cat"}',
      });
    }
    const ws = new WebSocket(
      `${running.url.replace("http", "ws")}/api/fal/proxy/fal-ai/echo/realtime?fal_jwt_token=bad`,
    );
    await new Promise((resolve) => ws.once("close", resolve));
    const samples = await eventually(
      `${running.url}/metrics`,
      (all) => sampleValue(all, "falgate_budget_spend_total", { app: "fal-ai/fast-sdxl" }) !== undefined,
    );
    expect(
      sampleValue(samples, "falgate_limit_refusals_total", { route: "proxy", code: "rate_limited" }),
    ).toBe(1);
    // Two runs admitted, each reported one billable unit at a price of 1.
    expect(sampleValue(samples, "falgate_budget_spend_total", { app: "fal-ai/fast-sdxl" })).toBe(2);
    expect(
      sampleValue(samples, "falgate_tunnel_refusals_total", { app: "fal-ai/echo", code: "invalid_token" }),
    ).toBe(1);
  });

  test("GET and HEAD only; off by default; on a port of its own when asked", async () => {
    const shared = await server();
    const head = await send(shared.metricsUrl!, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const post = await send(shared.metricsUrl!, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");

    const off = await server({ metrics: undefined });
    expect(off.metricsUrl).toBeNull();
    expect(off.metrics).toBeNull();
    expect((await send(`${off.url}/metrics`)).status).toBe(404);

    const own = await server({ metrics: { port: 0 } });
    expect(own.metricsUrl).not.toBe(`${own.url}/metrics`);
    expect((await send(`${own.url}/metrics`)).status).toBe(404);
    await send(own.proxy, {
      method: "POST",
      headers: target("https://fal.run/fal-ai/fast-sdxl"),
      body: JSON.stringify({ prompt: "x" }),
    });
    const { samples } = await scrape(own.metricsUrl!);
    expect(sampleValue(samples, "falgate_calls_total", { app: "fal-ai/fast-sdxl", status: "200" })).toBe(1);
    // The metrics listener serves nothing of the proxy.
    const proxied = await send(own.metricsUrl!.replace("/metrics", "/api/fal/proxy"), {
      method: "POST",
      headers: target("https://fal.run/fal-ai/fast-sdxl"),
      body: "{}",
    });
    expect(proxied.status).toBe(404);
    expect((await send(own.metricsUrl!.replace("/metrics", "/healthz"))).status).toBe(200);
    await own.close();
    await expect(send(own.metricsUrl!)).rejects.toThrow();
  });

  test("bad metrics options are refused before listening", async () => {
    await expect(startServer({ port: 0, logger: silent, metrics: { port: -1 } })).rejects.toThrow(
      /metrics\.port/,
    );
    await expect(startServer({ port: 0, logger: silent, accessLog: true })).rejects.toThrow(/info/);
  });
});
