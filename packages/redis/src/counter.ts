import type { TunnelCounter } from "@falgate/core";
import { checkClient, checkTimeout, type RedisEvalClient, withTimeout } from "./client.js";

/** Options of {@link createRedisTunnelCounter}. */
export interface RedisTunnelCounterOptions {
  /** Prefix of the keys (`<prefix><principal>`). @default "falgate:tunnels:" */
  prefix?: string;
  /**
   * A principal's count expires this long after its last acquire, so slots held by a crashed instance
   * free up eventually. Keep it above your longest tunnel, or a long tunnel stops being counted. @default 6 h
   */
  ttlMs?: number;
  /** How long a Redis call may take before the tunnel is refused. @default 2000 */
  timeoutMs?: number;
}

// INCR then give the slot back when over the limit: one script, so concurrent acquires never overshoot.
// A limit <= 0 means no cap, as in the in-memory counter.
const ACQUIRE = `
local n = redis.call('INCR', KEYS[1])
local limit = tonumber(ARGV[1])
if limit > 0 and n > limit then
  redis.call('DECR', KEYS[1])
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

// Never below zero (the key may have expired under a live tunnel); delete at zero so idle principals cost nothing.
const RELEASE = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 1 then
  redis.call('DEL', KEYS[1])
  return 0
end
return redis.call('DECR', KEYS[1])`;

/**
 * A {@link TunnelCounter} in Redis: the per-principal tunnel cap holds across every instance that points
 * at the same Redis. `acquire` rejects on a Redis error or timeout, so the tunnel is refused (fail closed).
 */
export function createRedisTunnelCounter(
  client: RedisEvalClient,
  options: RedisTunnelCounterOptions = {},
): TunnelCounter & { count(principal: string): Promise<number> } {
  checkClient(client, "createRedisTunnelCounter");
  const prefix = options.prefix ?? "falgate:tunnels:";
  const ttlMs = options.ttlMs ?? 6 * 60 * 60 * 1000;
  if (!Number.isInteger(ttlMs) || ttlMs < 1) {
    throw new TypeError("falgate: createRedisTunnelCounter option `ttlMs` must be an integer >= 1");
  }
  const timeoutMs = options.timeoutMs ?? 2000;
  checkTimeout(timeoutMs, "createRedisTunnelCounter");
  return {
    async acquire(principal, limit) {
      const reply = await withTimeout(
        client.eval(ACQUIRE, 1, prefix + principal, String(Math.trunc(limit)), String(ttlMs)),
        timeoutMs,
        "tunnel acquire",
      );
      return Number(reply) === 1;
    },
    async release(principal) {
      await withTimeout(client.eval(RELEASE, 1, prefix + principal), timeoutMs, "tunnel release");
    },
    async count(principal) {
      const reply = await withTimeout(
        client.eval(`return tonumber(redis.call('GET', KEYS[1]) or '0')`, 1, prefix + principal),
        timeoutMs,
        "tunnel count",
      );
      return Number(reply);
    },
  };
}
