// The Redis row's reference, measured where the proxy pays it: a child on the proxy core that times, over one
// ioredis connection to the bench's redis-server, sequential PINGs (the cheapest round trip) and sequential
// admissions of falgate's Redis store shaped like the limits row's (rate window, budget total, a principal and an
// account slot set: one Lua script each). "Redis adds at most one round trip" is judged against the admission.
import { performance } from "node:perf_hooks";
import { createRedisStore } from "@falgate/redis";
import { runChild } from "../lib/child.mjs";
import { latencySummary } from "../lib/stats.mjs";
import { connectRedis } from "./falgate.mjs";

/** p50/p99 (ms) of `count` sequential calls of `once(i)`, after `warm` untimed ones; `after(i)` runs untimed. */
async function time(count, warm, once, after = async () => undefined) {
  for (let i = 0; i < warm; i++) {
    await once(-1 - i);
    await after(-1 - i);
  }
  const latencies = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await once(i);
    latencies[i] = performance.now() - start;
    await after(i);
  }
  return { count, ...latencySummary(latencies) };
}

runChild(async ({ redisUrl, count }) => {
  const client = await connectRedis(redisUrl);
  const store = createRedisStore(client, { prefix: "probe:" });
  const pools = ["pool::bench", "total"];
  const plan = (i) => ({
    window: { key: "rate::bench", limit: 1_000_000_000, windowMs: 60_000 },
    total: { key: "spend:bench", limit: 1_000_000_000 },
    slots: pools.map((key) => ({ key, limit: 1_000_000 })),
    id: `probe-${i}`,
    ttlMs: 60_000,
  });
  try {
    const ping = await time(count, 200, () => client.ping());
    const admission = await time(
      count,
      200,
      (i) => store.admit(plan(i)),
      (i) => Promise.all(pools.map((key) => store.release(key, `probe-${i}`))),
    );
    return { info: { ping, admission }, close: async () => client.disconnect() };
  } catch (error) {
    client.disconnect();
    throw error;
  }
});
