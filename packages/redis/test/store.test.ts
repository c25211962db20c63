import { isFalgateError, type Logger, type Store } from "@falgate/core";
import { classifyTarget, createLimiter } from "@falgate/core/binding";
import { describeStore, type StoreUnderTest, startRedis, type TestRedis } from "@falgate/testkit";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, fromNodeRedis, type RedisEvalClient } from "../src/index.js";

const silent: Logger = { warn: () => undefined, error: () => undefined };
const RUN = classifyTarget(new URL("https://fal.run/fal-ai/flux/dev"));

/** ioredis as docs/production.md recommends: fail fast while Redis is away, reconnect by itself. */
async function ioredis(server: TestRedis, wellKept = true): Promise<Redis> {
  const client = new Redis({
    path: server.socket,
    ...(wellKept ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : {}),
  });
  client.on("error", () => {});
  await new Promise<void>((resolve) => client.once("ready", () => resolve()));
  return client;
}

/** The suite on one Redis, with handles made by `connect` and the server stopped and restarted for outages. */
function redisUnderTest(
  connect: (server: TestRedis) => Promise<{ store: Store; close(): Promise<unknown> }>,
) {
  return async (): Promise<StoreUnderTest> => {
    const server = await startRedis();
    const admin = new Redis({ path: server.socket });
    admin.on("error", () => {});
    const handles: Array<{ close(): Promise<unknown> }> = [];
    return {
      async connect() {
        const handle = await connect(server);
        handles.push(handle);
        return handle.store;
      },
      reset: async () => {
        await admin.flushall();
      },
      async close() {
        for (const handle of handles) await handle.close().catch(() => {});
        admin.disconnect();
        await server.close();
      },
      outage: { stop: () => server.stop(), start: () => server.start() },
    };
  };
}

describeStore(
  "Redis with ioredis (EVALSHA)",
  redisUnderTest(async (server) => {
    const client = await ioredis(server);
    return { store: createRedisStore(client), close: async () => client.disconnect() };
  }),
);

describeStore(
  "Redis with node-redis (fromNodeRedis)",
  redisUnderTest(async (server) => {
    const client = createClient({
      socket: {
        path: server.socket,
        tls: false,
        reconnectStrategy: (retries) => Math.min(retries * 50, 500),
      },
      disableOfflineQueue: true,
    });
    client.on("error", () => {});
    await client.connect();
    return { store: createRedisStore(fromNodeRedis(client)), close: () => client.close() };
  }),
);

describe("createRedisStore", () => {
  let server: TestRedis;
  let client: Redis;
  const cleanups: Array<() => Promise<unknown> | unknown> = [];

  beforeAll(async () => {
    server = await startRedis();
    client = await ioredis(server);
  });
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
    await client.flushall();
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.close();
  });

  it("sends a script once, then EVALSHA; after SCRIPT FLUSH it loads it again", async () => {
    const evals: string[] = [];
    const spy: RedisEvalClient = {
      eval: (script, n, ...rest) => {
        evals.push("eval");
        return client.eval(script, n, ...rest);
      },
      evalsha: (sha, n, ...rest) => {
        evals.push("evalsha");
        return client.evalsha(sha, n, ...rest);
      },
    };
    const store = createRedisStore(spy);
    expect(await store.addOnce("a", 60_000)).toBe(true);
    expect(evals).toEqual(["evalsha", "eval"]);
    expect(await store.addOnce("a", 60_000)).toBe(false);
    expect(evals).toEqual(["evalsha", "eval", "evalsha"]);
    await client.script("FLUSH");
    expect(await store.addOnce("b", 60_000)).toBe(true);
    expect(evals).toEqual(["evalsha", "eval", "evalsha", "evalsha", "eval"]);
  });

  it("works with a client that only has EVAL", async () => {
    const store = createRedisStore({ eval: (...args) => client.eval(...args) });
    expect(await store.add("sum", 1.5, 60_000)).toBe(1.5);
    expect(
      (await store.admit({ window: null, total: { key: "sum", limit: 2 }, slots: [], id: "", ttlMs: 1 }))
        .admitted,
    ).toBe(true);
  });

  it("prefixes keys, and every key it writes expires", async () => {
    const store = createRedisStore(client, { prefix: "app1:" });
    const limiter = createLimiter(
      { rate: "10/min", maxConcurrent: 2, maxConcurrentTotal: 5, budget: "5/day" },
      { store, logger: silent },
    )!;
    const admitted = await limiter.admit({ principal: "alice", kind: "proxy", target: RUN });
    await limiter.settle(admitted.reservation, {
      status: 200,
      header: (name) => (name === "x-fal-billable-units" ? "2" : name === "x-fal-request-id" ? "r1" : null),
    });
    const submit = classifyTarget(new URL("https://queue.fal.run/fal-ai/flux/dev"));
    const job = await limiter.admit({ principal: "alice", kind: "proxy", target: submit });
    await limiter.settle(job.reservation, {
      status: 200,
      header: (name) => (name === "x-fal-request-id" ? "job1" : null),
    });
    expect(await store.addOnce("once", 60_000)).toBe(true);
    const keys = await client.keys("*");
    expect(keys.length).toBeGreaterThanOrEqual(4);
    for (const key of keys) {
      expect(key.startsWith(key === "app1:once" ? "app1:" : "app1:falgate:"), key).toBe(true);
      expect(Number(await client.pttl(key)), key).toBeGreaterThan(0);
    }
  });

  it("a stalled Redis (SIGSTOP) costs each admission at most storeTimeout, and the admissions it runs late give their slots back", async () => {
    const stalled = await startRedis();
    cleanups.push(() => stalled.close());
    // A client with the default offline queue: commands wait for Redis instead of failing fast.
    const slow = await ioredis(stalled, false);
    cleanups.push(() => slow.disconnect());
    cleanups.push(() => stalled.resume());
    const store = createRedisStore(slow);
    const limiter = createLimiter({ maxConcurrent: 2, storeTimeout: 200 }, { store, logger: silent })!;
    stalled.pause();
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const admitted = await limiter.admit({ principal: "alice", kind: "proxy", target: RUN });
      expect(admitted.reservation.tracked).toBe(false);
      expect(performance.now() - started).toBeLessThan(700);
    }
    stalled.resume();
    // The three queued admissions ran once Redis thawed: the two that got slots gave them back.
    await expect.poll(() => store.slots("falgate:slots::alice"), { timeout: 5_000 }).toBe(0);
    await expect
      .poll(
        async () =>
          (await limiter.admit({ principal: "alice", kind: "proxy", target: RUN })).reservation.tracked,
        {
          timeout: 5_000,
        },
      )
      .toBe(true);
  });

  it("refuses a client without eval, a bad prefix or timeout, at construction", () => {
    expect(() => createRedisStore({} as RedisEvalClient)).toThrow(/eval/);
    expect(() => createRedisStore(client, { timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createRedisStore(client, { prefix: 1 as unknown as string })).toThrow(/prefix/);
  });

  it("fails closed when asked to, with Redis gone: a 503 within storeTimeout", async () => {
    const dead = new Redis({
      path: `${server.socket}.missing`,
      lazyConnect: true,
      enableOfflineQueue: false,
    });
    dead.on("error", () => {});
    cleanups.push(() => dead.disconnect());
    const limiter = createLimiter(
      { rate: "1/s", onStoreError: "closed", storeTimeout: 200 },
      { store: createRedisStore(dead), logger: silent },
    )!;
    const started = performance.now();
    const error = await limiter
      .admit({ principal: "a", kind: "proxy", target: RUN })
      .catch((e: unknown) => e);
    expect(isFalgateError(error) && error.code).toBe("limits_unavailable");
    expect(performance.now() - started).toBeLessThan(700);
  });
});
