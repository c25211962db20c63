import { Redis } from "ioredis";
import { createClient } from "redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore, fromNodeRedis, type RedisEvalClient } from "../src/index.js";
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

describe("createRedisStore: replay ids (addOnce)", () => {
  it("accepts an id once across two instances, and forgets it after its ttl (Redis's own expiry)", async () => {
    const [one, two] = [createRedisStore(a), createRedisStore(b)];
    expect(await one.addOnce("jti:x", 200)).toBe(true);
    expect(await two.addOnce("jti:x", 200)).toBe(false);
    const ttl = Number(await a.pttl("falgate:jti:x"));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(200);
    await expect.poll(() => a.exists("falgate:jti:x"), { interval: 50 }).toBe(0);
    expect(await two.addOnce("jti:x", 200)).toBe(true);
  });

  it("gives exactly one true to 50 parallel adds of the same id", async () => {
    const stores = [createRedisStore(a), createRedisStore(b)];
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => stores[i % 2]!.addOnce("jti:race", 60_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe("createRedisStore: slots", () => {
  it("caps a key across two instances; release frees a slot; renew moves a deadline", async () => {
    const [one, two] = [createRedisStore(a), createRedisStore(b)];
    expect(await one.acquire("tunnel:p", "s1", 2, 60_000)).toBe(true);
    expect(await two.acquire("tunnel:p", "s2", 2, 60_000)).toBe(true);
    expect(await two.acquire("tunnel:p", "s3", 2, 60_000)).toBe(false);
    // Taking a slot one already holds is not a second slot.
    expect(await one.acquire("tunnel:p", "s1", 2, 60_000)).toBe(true);
    await one.release("tunnel:p", "s1");
    expect(await two.slots("tunnel:p")).toBe(1);
    expect(await two.renew("tunnel:p", "s2", 60_000)).toBe(true);
    expect(await two.renew("tunnel:p", "gone", 60_000)).toBe(false);
    await two.release("tunnel:p", "s2");
    // The last member gone, the key is gone: idle principals cost nothing.
    expect(await a.exists("falgate:tunnel:p")).toBe(0);
  });

  it("gives exactly 5 of 100 parallel acquires with limit 5", async () => {
    const stores = [createRedisStore(a), createRedisStore(b)];
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => stores[i % 2]!.acquire("k", `slot-${i}`, 5, 60_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(await stores[0]!.slots("k")).toBe(5);
  });

  it("frees a slot whose holder vanished at its deadline, even while the key stays active", async () => {
    const store = createRedisStore(a);
    expect(await store.acquire("p", "vanished", 2, 300)).toBe(true); // never released
    expect(await store.acquire("p", "live-1", 2, 60_000)).toBe(true);
    expect(await store.acquire("p", "live-2", 2, 60_000)).toBe(false);
    await expect.poll(() => store.slots("p")).toBe(1);
    expect(await store.acquire("p", "live-2", 2, 60_000)).toBe(true);
  });

  it("leaks no slot when acquires time out while Redis stalls", async () => {
    const stalled = await startRedis();
    const client = new Redis({ path: stalled.socket });
    cleanups.push(() => stalled.close());
    cleanups.push(() => client.disconnect());
    cleanups.push(() => stalled.resume());
    const store = createRedisStore(client, { timeoutMs: 100 });
    stalled.pause();
    for (let i = 0; i < 3; i++) {
      await expect(store.acquire("p", `s${i}`, 2, 60_000)).rejects.toThrow(/timed out/);
    }
    stalled.resume();
    // The queued scripts run once Redis is back, and each slot they took is given back.
    await expect.poll(() => store.slots("p")).toBe(0);
    expect(await store.acquire("p", "x", 2, 60_000)).toBe(true);
  });
});

describe("createRedisStore: rate windows and totals", () => {
  it("admits exactly `limit` of 60 parallel hits across two instances, then says how long to wait", async () => {
    const stores = [createRedisStore(a), createRedisStore(b)];
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => stores[i % 2]!.hit("rate:p", 10, 60_000, 1)),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    const refused = results.find((r) => !r.allowed)!;
    expect(refused.remaining).toBe(0);
    expect(refused.resetMs).toBeGreaterThan(0);
    expect(refused.resetMs).toBeLessThanOrEqual(120_000);
    // cost 0 reads without counting.
    expect(await stores[0]!.hit("rate:p", 10, 60_000, 0)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("adds up a total (fractions too) that starts over after its period", async () => {
    const [one, two] = [createRedisStore(a), createRedisStore(b)];
    expect(await one.add("spend:p", 1.5, 300)).toBe(1.5);
    expect(await two.add("spend:p", 2, 300)).toBe(3.5);
    expect(await one.total("spend:p")).toBe(3.5);
    await expect.poll(() => one.total("spend:p")).toBe(0);
  });
});

describe("failures", () => {
  it("rejects (never hangs) when Redis does not answer; rejects on a Redis error", async () => {
    const dead = new Redis({ path: `${server.socket}.missing`, lazyConnect: true });
    dead.on("error", () => {});
    cleanups.push(() => dead.disconnect());
    await expect(createRedisStore(dead, { timeoutMs: 200 }).addOnce("x", 1000)).rejects.toThrow(/timed out/);
    const broken: RedisEvalClient = { eval: async () => Promise.reject(new Error("NOSCRIPT boom")) };
    await expect(createRedisStore(broken).acquire("k", "s", 1, 1000)).rejects.toThrow(/boom/);
  });

  it("refuses a client without eval and a bad timeout at construction", () => {
    expect(() => createRedisStore({} as RedisEvalClient)).toThrow(/eval/);
    expect(() => createRedisStore(a, { timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

describe("fromNodeRedis", () => {
  it("works with a node-redis client, sharing state with ioredis instances", async () => {
    const client = createClient({ socket: { path: server.socket, tls: false } });
    await client.connect();
    cleanups.push(() => client.close());
    const nodeStore = createRedisStore(fromNodeRedis(client));
    expect(await nodeStore.addOnce("mixed", 60_000)).toBe(true);
    expect(await createRedisStore(a).addOnce("mixed", 60_000)).toBe(false);
    expect(await nodeStore.acquire("p", "n1", 1, 60_000)).toBe(true);
    expect(await createRedisStore(b).acquire("p", "i1", 1, 60_000)).toBe(false);
    await nodeStore.release("p", "n1");
    expect(await nodeStore.slots("p")).toBe(0);
  });
});
