import { Redis } from "ioredis";
import { createClient } from "redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createRedisReplayStore,
  createRedisTunnelCounter,
  fromNodeRedis,
  type RedisEvalClient,
} from "../src/index.js";
import { startRedis, type TestRedis } from "./redis-server.js";

let server: TestRedis;
let a: Redis;
let b: Redis;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeAll(async () => {
  server = await startRedis();
  // Two connections stand in for two proxy instances.
  a = new Redis({ path: server.socket });
  b = new Redis({ path: server.socket });
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await a.flushall();
});
afterAll(async () => {
  a?.disconnect();
  b?.disconnect();
  await server?.close();
});

const inAMinute = () => Date.now() + 60_000;

describe("createRedisReplayStore", () => {
  it("accepts a jti once across two instances", async () => {
    const storeA = createRedisReplayStore(a);
    const storeB = createRedisReplayStore(b);
    expect(await storeB.consume("jti-1", inAMinute())).toBe(true);
    expect(await storeA.consume("jti-1", inAMinute())).toBe(false);
    expect(await storeB.consume("jti-1", inAMinute())).toBe(false);
    expect(await storeA.consume("jti-2", inAMinute())).toBe(true);
    expect(await a.get("falgate:jti:jti-1")).toBe("1");
  });

  it("lets Redis forget the id when the token expires (relative PX), never sooner than a second from now", async () => {
    const store = createRedisReplayStore(a, { prefix: "t:" });
    expect(await store.consume("x", Date.now() + 30_000)).toBe(true);
    const ttl = Number(await a.pttl("t:x"));
    expect(ttl).toBeGreaterThan(28_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    // A past expiresAt still remembers the id briefly, so it cannot be replayed at the edge.
    expect(await store.consume("past", Date.now() - 10_000)).toBe(true);
    expect(await store.consume("past", Date.now() - 10_000)).toBe(false);
    expect(Number(await a.pttl("t:past"))).toBeGreaterThan(0);
  });

  it("does not depend on Redis's clock agreeing with the app's: a skewed app clock cannot reopen a replay", async () => {
    // The app's clock runs 10 minutes behind Redis's: an absolute expiry (PXAT) would already be past for Redis.
    const behind = () => Date.now() - 600_000;
    const store = createRedisReplayStore(a, { prefix: "skew:", now: behind });
    expect(await store.consume("y", behind() + 30_000)).toBe(true);
    expect(await store.consume("y", behind() + 30_000)).toBe(false);
    expect(Number(await a.pttl("skew:y"))).toBeGreaterThan(28_000);
  });

  it("forgets an expired id: the key is gone once the token has expired", async () => {
    const store = createRedisReplayStore(a);
    expect(await store.consume("short", Date.now())).toBe(true); // remembered for the minimum second
    await expect.poll(() => a.exists("falgate:jti:short"), { timeout: 5_000 }).toBe(0);
    expect(await store.consume("short", inAMinute())).toBe(true);
  });

  it("gives exactly one true to 50 parallel consumes of the same jti", async () => {
    const stores = [createRedisReplayStore(a), createRedisReplayStore(b)];
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => stores[i % 2]!.consume("race", inAMinute())),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("fails closed: rejects when Redis does not answer", async () => {
    const dead = new Redis({ path: `${server.socket}.missing`, lazyConnect: true });
    dead.on("error", () => {});
    cleanups.push(() => dead.disconnect());
    const store = createRedisReplayStore(dead, { timeoutMs: 200 });
    await expect(store.consume("jti", inAMinute())).rejects.toThrow(/timed out/);
  });

  it("fails closed: rejects on a Redis error", async () => {
    const broken: RedisEvalClient = { eval: () => Promise.reject(new Error("READONLY")) };
    await expect(createRedisReplayStore(broken).consume("jti", inAMinute())).rejects.toThrow("READONLY");
  });

  it("refuses a client without eval at construction", () => {
    expect(() => createRedisReplayStore({} as RedisEvalClient)).toThrow(/eval/);
    expect(() => createRedisReplayStore(a, { timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

describe("createRedisTunnelCounter", () => {
  it("caps a principal across two instances; release frees a slot", async () => {
    const counterA = createRedisTunnelCounter(a);
    const counterB = createRedisTunnelCounter(b);
    expect(await counterA.acquire("alice", 2)).toBe(true);
    expect(await counterB.acquire("alice", 2)).toBe(true);
    expect(await counterA.acquire("alice", 2)).toBe(false);
    expect(await counterB.acquire("alice", 2)).toBe(false);
    expect(await counterB.acquire("bob", 2)).toBe(true);
    expect(await counterA.count("alice")).toBe(2);
    await counterA.release("alice");
    expect(await counterB.acquire("alice", 2)).toBe(true);
    expect(await counterB.count("alice")).toBe(2);
  });

  it("gives exactly 5 of 100 parallel acquires with limit 5", async () => {
    const counters = [createRedisTunnelCounter(a), createRedisTunnelCounter(b)];
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => counters[i % 2]!.acquire("p", 5)),
    );
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(await counters[0]!.count("p")).toBe(5);
  });

  it("never goes below zero and deletes the key at zero", async () => {
    const counter = createRedisTunnelCounter(a, { prefix: "c:" });
    expect(await counter.acquire("p", 1)).toBe(true);
    await counter.release("p");
    await counter.release("p");
    expect(await a.exists("c:p")).toBe(0);
    expect(await counter.acquire("p", 1)).toBe(true);
    expect(await counter.acquire("p", 1)).toBe(false);
  });

  it("frees a slot whose holder vanished at its deadline, even while the principal stays active", async () => {
    const vanished = createRedisTunnelCounter(a, { ttlMs: 300 });
    const live = createRedisTunnelCounter(b, { ttlMs: 60_000 });
    expect(await vanished.acquire("p", 2)).toBe(true); // never released
    // Acquires keep the key alive; the leaked slot still expires on its own deadline.
    expect(await live.acquire("p", 2)).toBe(true);
    expect(await live.acquire("p", 2)).toBe(false);
    await expect.poll(() => live.count("p")).toBe(1);
    expect(await live.acquire("p", 2)).toBe(true);
    expect(await live.acquire("p", 2)).toBe(false);
  });

  it("leaks no slot when acquires time out while Redis stalls", async () => {
    const stalled = await startRedis();
    const client = new Redis({ path: stalled.socket });
    cleanups.push(() => stalled.close());
    cleanups.push(() => client.disconnect());
    cleanups.push(() => stalled.resume());
    const counter = createRedisTunnelCounter(client, { timeoutMs: 100 });
    expect(await counter.acquire("p", 2)).toBe(true);
    await counter.release("p");
    stalled.pause();
    for (let i = 0; i < 3; i++) {
      await expect(counter.acquire("p", 2)).rejects.toThrow(/timed out/);
    }
    stalled.resume();
    // The queued scripts run once Redis is back, and each slot they took is given back.
    await expect.poll(() => counter.count("p")).toBe(0);
    expect(await counter.acquire("p", 2)).toBe(true);
    expect(await counter.acquire("p", 2)).toBe(true);
    expect(await counter.acquire("p", 2)).toBe(false);
  });

  it("sets a TTL so a crashed instance's slots free up", async () => {
    const counter = createRedisTunnelCounter(a, { ttlMs: 60_000 });
    await counter.acquire("p", 3);
    const ttl = Number(await a.pttl("falgate:tunnels:p"));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const short = createRedisTunnelCounter(a, { ttlMs: 50 });
    await short.acquire("q", 1);
    await expect.poll(() => a.exists("falgate:tunnels:q")).toBe(0);
    expect(await short.acquire("q", 1)).toBe(true);
  });

  it("fails closed: acquire rejects when Redis does not answer", async () => {
    const dead = new Redis({ path: `${server.socket}.missing`, lazyConnect: true });
    dead.on("error", () => {});
    cleanups.push(() => dead.disconnect());
    await expect(createRedisTunnelCounter(dead, { timeoutMs: 200 }).acquire("p", 1)).rejects.toThrow(
      /timed out/,
    );
  });
});

describe("fromNodeRedis", () => {
  it("works with a node-redis client, sharing state with ioredis instances", async () => {
    const client = createClient({ socket: { path: server.socket, tls: false } });
    await client.connect();
    cleanups.push(() => client.close());
    const nodeStore = createRedisReplayStore(fromNodeRedis(client));
    expect(await nodeStore.consume("mixed", inAMinute())).toBe(true);
    expect(await createRedisReplayStore(a).consume("mixed", inAMinute())).toBe(false);
    expect(await nodeStore.consume("mixed", inAMinute())).toBe(false);
    const counter = createRedisTunnelCounter(fromNodeRedis(client));
    expect(await counter.acquire("p", 1)).toBe(true);
    expect(await createRedisTunnelCounter(b).acquire("p", 1)).toBe(false);
    await counter.release("p");
    expect(await counter.count("p")).toBe(0);
  });
});
