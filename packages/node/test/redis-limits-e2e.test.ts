import type { LimitsOptions, Logger } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { createRedisStore } from "@falgate/redis";
import { startRedis, type TestRedis } from "@falgate/testkit";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type RunningServer, runCli, startServer } from "../src/index.js";

/*
 * Limits end to end: several real falgate servers sharing one real redis-server, the official wire format, mock-fal
 * as fal. Everything the limits promise across instances is checked where a user would see it: answers (429 codes,
 * headers) and what reached fal.
 */

const SECRET = "e2e-limits-token-secret-of-32-bytes!!";
const silent: Logger = { warn: () => undefined, error: () => undefined };
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Cluster {
  redis: TestRedis;
  mock: MockFal;
  servers: RunningServer[];
}

/** `count` falgate servers on one Redis and one mock; the principal is the `x-user` header. */
async function cluster(
  limits: LimitsOptions,
  options: { count?: number; mock?: Parameters<typeof startMockFal>[0] } = {},
): Promise<Cluster> {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const mock = await startMockFal(options.mock);
  cleanups.push(() => mock.close());
  const servers: RunningServer[] = [];
  for (let i = 0; i < (options.count ?? 3); i++) {
    // As docs/production.md says: fail fast while Redis is away, reconnect by itself.
    const client = new Redis({ path: redis.socket, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    client.on("error", () => undefined);
    cleanups.push(() => client.disconnect());
    await new Promise((resolve) => client.once("ready", resolve));
    const server = await startServer({
      port: 0,
      upstream: mock.url,
      credentials: mock.key,
      logger: silent,
      store: createRedisStore(client, { timeoutMs: 300 }),
      tokens: { secret: SECRET },
      tunnel: { maxPerPrincipal: 0 },
      authorize: (request) => ({ id: request.headers.get("x-user") ?? "nobody" }),
      limits: { storeTimeout: 300, ...limits },
    });
    cleanups.push(() => server.close());
    servers.push(server);
  }
  return { redis, mock, servers };
}

/** One proxied call through server `i % n`. */
async function call(
  c: Cluster,
  i: number,
  target: string,
  init: { method?: string; body?: string; user?: string } = {},
): Promise<{ status: number; code: string | null; headers: Headers; json: unknown }> {
  const server = c.servers[i % c.servers.length]!;
  const method = init.method ?? "POST";
  const res = await fetch(`${server.url}/api/fal/proxy`, {
    method,
    headers: {
      "x-fal-target-url": target,
      "content-type": "application/json",
      "x-user": init.user ?? "alice",
    },
    ...(method === "GET" ? {} : { body: init.body ?? '{"prompt":"a cat"}' }),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  const code = (json as { error?: { code?: string } } | null)?.error?.code ?? null;
  return { status: res.status, code, headers: res.headers, json };
}

const RUN = "https://fal.run/fal-ai/fast-sdxl";
const QUEUE = "https://queue.fal.run/fal-ai/fast-sdxl";
const posts = (mock: MockFal) =>
  mock.requests.filter((r) => r.method === "POST" && r.host === "fal.run").length;

describe("several falgate instances sharing one Redis", () => {
  it("admit exactly the rate limit across instances under 240 parallel calls; nothing refused reaches fal", async () => {
    const c = await cluster({ rate: "50/min" }, { mock: { runMs: 5 } });
    const results = await Promise.all(Array.from({ length: 240 }, (_, i) => call(c, i, RUN)));
    const allowed = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(allowed).toHaveLength(50);
    expect(refused).toHaveLength(190);
    expect(new Set(refused.map((r) => r.code))).toEqual(new Set(["rate_limited"]));
    expect(posts(c.mock)).toBe(50);
    // Refusals say when to come back; allowed calls say what is left.
    expect(Number(refused[0]!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused[0]!.headers.get("ratelimit-policy")).toMatch(/"rate";q=50;w=60/);
    expect(allowed[0]!.headers.get("ratelimit")).toMatch(/"rate";r=\d+/);
    // Another principal has its own window.
    expect((await call(c, 0, RUN, { user: "bob" })).status).toBe(200);
  });

  it("hold a sync run's slot while it runs: exactly maxConcurrent of 60 parallel calls reach fal", async () => {
    const c = await cluster({ maxConcurrent: 3 });
    // fal takes its time answering: the three admitted runs hold their slots while the rest arrive.
    c.mock.fault({ kind: "delay", delayMs: 1500, method: "POST", host: "fal.run", times: 3 });
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => call(c, i, RUN)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(57);
    expect(new Set(refused.map((r) => r.code))).toEqual(new Set(["concurrency_limited"]));
    expect(posts(c.mock)).toBe(3);
    // The runs are over: their slots are free again, on every instance.
    expect((await call(c, 1, RUN)).status).toBe(200);
  });

  it("hold a queue job's slot until it is COMPLETED (seen through status) or cancelled", async () => {
    const c = await cluster({ maxConcurrent: 2 }, { mock: { queueMs: 200, runMs: 300 } });
    const submit = async (i: number) => {
      const answer = await call(c, i, QUEUE, { body: JSON.stringify({ prompt: `job ${i}` }) });
      return { ...answer, requestId: (answer.json as { request_id?: string }).request_id ?? null };
    };
    const [a, b] = [await submit(0), await submit(1)];
    expect([a.status, b.status]).toEqual([200, 200]);
    // Two jobs hold both slots (their submits answered long ago).
    expect((await submit(2)).code).toBe("concurrency_limited");
    // Polling a job is never counted, and the COMPLETED status frees its slot.
    const status = (id: string, i: number) =>
      call(c, i, `${QUEUE}/requests/${id}/status`, { method: "GET" }).then(
        (r) => r.json as { status?: string },
      );
    await expect
      .poll(() => status(a.requestId!, 2).then((s) => s.status), { timeout: 5_000 })
      .toBe("COMPLETED");
    // Settling runs off the answer's path: on a loaded machine the slot may come back a moment after the answer.
    let third = await submit(3);
    await expect
      .poll(async () => {
        if (third.status !== 200) third = await submit(3);
        return third.status;
      })
      .toBe(200);
    // A cancelled job gives its slot back too.
    expect((await submit(4)).code).toBe("concurrency_limited");
    const cancel = await call(c, 4, `${QUEUE}/requests/${third.requestId}/cancel`, {
      method: "PUT",
      body: "",
    });
    expect([202, 400]).toContain(cancel.status);
    await expect.poll(async () => (await submit(5)).status, { timeout: 5_000 }).toBe(200);
  });

  it("count spend from fal's billable units once per call, and refuse once the budget is spent", async () => {
    // mock-fal reports 2 units for every call of this app.
    const c = await cluster(
      { budget: "10/day" },
      { mock: { runMs: 5, billableUnits: { "fal-ai/fast-sdxl": 2 } } },
    );
    for (let i = 0; i < 5; i++) expect((await call(c, i, RUN)).status).toBe(200);
    const refused = await Promise.all(Array.from({ length: 30 }, (_, i) => call(c, i, RUN)));
    expect(new Set(refused.map((r) => r.code))).toEqual(new Set(["budget_exhausted"]));
    expect(posts(c.mock)).toBe(5);
    const usage = await fetch(`${c.servers[2]!.url}/api/fal/proxy/usage`, { headers: { "x-user": "alice" } });
    expect(await usage.json()).toMatchObject({
      principal: "alice",
      budget: { limit: 10, spent: 10, remaining: 0 },
    });
    expect((await call(c, 0, RUN, { user: "bob" })).status).toBe(200);
  });

  it("a tunnel holds a slot while open, in the same store: the same principal's HTTP call is refused until it closes", async () => {
    const c = await cluster({ maxConcurrent: 1 }, { mock: { runMs: 5 } });
    const minted = await fetch(`${c.servers[0]!.url}/api/fal/proxy/token`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-user": "carol" },
      body: JSON.stringify({ app: "fal-ai/echo", type: "falgate" }),
    });
    const token = (await minted.json()) as string;
    const ws = new WebSocket(
      `${c.servers[1]!.url.replace("http", "ws")}/api/fal/proxy/fal-ai/echo/realtime?fal_jwt_token=${token}`,
    );
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const echoed = new Promise((resolve) => ws.once("message", resolve));
    ws.send("hi");
    await echoed;
    expect((await call(c, 2, RUN, { user: "carol" })).code).toBe("concurrency_limited");
    const closed = new Promise((resolve) => ws.once("close", resolve));
    ws.close(1000);
    await closed;
    await expect.poll(async () => (await call(c, 0, RUN, { user: "carol" })).status).toBe(200);
  });
});

describe("when Redis goes away mid-run", () => {
  for (const mode of ["open", "closed"] as const) {
    it(`fails ${mode} as documented: nothing hangs, no process exits, counting resumes when Redis is back`, async () => {
      const c = await cluster({ rate: "20/min", onStoreError: mode }, { count: 2, mock: { runMs: 5 } });
      for (let i = 0; i < 5; i++) expect((await call(c, i, RUN)).status).toBe(200);
      await c.redis.stop();
      const started = performance.now();
      const during = await Promise.all(Array.from({ length: 20 }, (_, i) => call(c, i, RUN)));
      // Every answer came back within a few store timeouts (300 ms), none hung.
      expect(performance.now() - started).toBeLessThan(5_000);
      if (mode === "open") {
        expect(during.every((r) => r.status === 200)).toBe(true);
      } else {
        expect(during.every((r) => r.status === 503 && r.code === "limits_unavailable")).toBe(true);
        expect(during[0]!.headers.get("retry-after")).not.toBeNull();
      }
      await c.redis.start();
      // Both instances reconnect by themselves and count again: the window fills up and refuses.
      await expect
        .poll(
          async () => {
            const results = await Promise.all(Array.from({ length: 40 }, (_, i) => call(c, i, RUN)));
            return results.some((r) => r.code === "rate_limited");
          },
          { timeout: 15_000, interval: 500 },
        )
        .toBe(true);
      for (const server of c.servers) expect(server.server.listening).toBe(true);
    });
  }
});

describe("the falgate command's limit flags", () => {
  it("--rate-limit, --max-concurrent, --budget and --redis-url configure two commands that share one Redis", async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.close());
    const mock = await startMockFal({ runMs: 5 });
    cleanups.push(() => mock.close());
    const out: string[] = [];
    const io = {
      env: { FAL_KEY: mock.key, FALGATE_ALLOW_UNAUTHENTICATED: "1" },
      stdout: (text: string) => out.push(text),
      stderr: (text: string) => out.push(text),
    };
    const argv = ["--port", "0", "--upstream", mock.url, "--rate-limit", "4/min", "--max-concurrent", "2"];
    const runs = [];
    for (let i = 0; i < 2; i++) {
      const run = await runCli([...argv, "--budget", "100/day", "--redis-url", redis.socket, "-q"], io);
      expect(run.exitCode).toBeNull();
      cleanups.push(() => run.server?.close());
      runs.push(run.server!);
    }
    // Anonymous callers are counted by address: both commands see the same one (loopback).
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${runs[i % 2]!.url}/api/fal/proxy`, {
        method: "POST",
        headers: { "x-fal-target-url": RUN, "content-type": "application/json" },
        body: '{"prompt":"a cat"}',
      });
      statuses.push(res.status);
      if (res.status === 429)
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
      else await res.text();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    expect(posts(mock)).toBe(4);
    expect(out.join("")).toContain("shared through Redis");
    // A value the flags cannot mean is a command-line error, not a crash.
    const bad = await runCli(["--port", "0", "--rate-limit", "lots"], io);
    expect(bad.exitCode).toBe(2);
    expect(out.join("")).toContain("--rate-limit must look like 60/min");
  });
});
