import type { TunnelCounter } from "@falgate/core";
import { checkClient, checkTimeout, type RedisEvalClient, withTimeout } from "./client.js";

/** Options of {@link createRedisTunnelCounter}. */
export interface RedisTunnelCounterOptions {
  /** Prefix of the keys (`<prefix><principal>`). @default "falgate:tunnels:" */
  prefix?: string;
  /**
   * Each slot expires this long after its acquire even if it is never released (crashed instance, lost
   * release), so a leaked slot always frees up. Keep it above `tunnel.maxSessionDuration` (default 1 h),
   * or a tunnel that outlives it stops being counted. @default 3_900_000 (65 min)
   */
  ttlMs?: number;
  /** How long a Redis call may take before the tunnel is refused. @default 2000 */
  timeoutMs?: number;
}

// Redis's clock, in ms: one clock for every instance. Scripts are replicated by effects (Redis >= 5).
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// A sorted set per principal, one member per slot scored by its deadline. Drop expired slots, check the
// count, add: one script, so concurrent acquires never overshoot. A limit <= 0 means no cap, as in the
// in-memory counter. The key lives as long as its newest slot.
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1`;

// Removing the last member deletes the key, so idle principals cost nothing.
const RELEASE = `return redis.call('ZREM', KEYS[1], ARGV[1])`;

const COUNT = `${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;

/**
 * A {@link TunnelCounter} in Redis: the per-principal tunnel cap holds across every instance that points
 * at the same Redis. `acquire` rejects on a Redis error or timeout, so the tunnel is refused (fail closed);
 * a slot taken by an acquire that timed out is given back once Redis answers, and every slot expires
 * `ttlMs` after its acquire, so no slot leaks for good.
 */
export function createRedisTunnelCounter(
  client: RedisEvalClient,
  options: RedisTunnelCounterOptions = {},
): TunnelCounter & { count(principal: string): Promise<number> } {
  checkClient(client, "createRedisTunnelCounter");
  const prefix = options.prefix ?? "falgate:tunnels:";
  const ttlMs = options.ttlMs ?? 65 * 60 * 1000;
  if (!Number.isInteger(ttlMs) || ttlMs < 1) {
    throw new TypeError("falgate: createRedisTunnelCounter option `ttlMs` must be an integer >= 1");
  }
  const timeoutMs = options.timeoutMs ?? 2000;
  checkTimeout(timeoutMs, "createRedisTunnelCounter");
  // `release(principal)` cannot say which slot it gives back, so this instance remembers the members it
  // added, oldest first, and removes the oldest: the slots left have the latest deadlines.
  const instance = crypto.randomUUID();
  let next = 0;
  const held = new Map<string, string[]>();
  const remove = (principal: string, member: string) => client.eval(RELEASE, 1, prefix + principal, member);
  return {
    async acquire(principal, limit) {
      const member = `${instance}:${next++}`;
      const command = client.eval(
        ACQUIRE,
        1,
        prefix + principal,
        String(Math.trunc(limit)),
        String(ttlMs),
        member,
      );
      let reply: unknown;
      try {
        reply = await withTimeout(command, timeoutMs, "tunnel acquire");
      } catch (error) {
        // The script may still run once Redis answers: give that slot back instead of leaking it.
        command
          .then(
            (late) => (Number(late) === 1 ? remove(principal, member) : undefined),
            () => undefined,
          )
          .catch(() => undefined);
        throw error;
      }
      if (Number(reply) !== 1) return false;
      const members = held.get(principal);
      if (members) members.push(member);
      else held.set(principal, [member]);
      return true;
    },
    async release(principal) {
      const members = held.get(principal);
      const member = members?.shift();
      if (member === undefined) return;
      if (members?.length === 0) held.delete(principal);
      // On failure the slot still frees up at its deadline.
      await withTimeout(remove(principal, member), timeoutMs, "tunnel release");
    },
    async count(principal) {
      const reply = await withTimeout(client.eval(COUNT, 1, prefix + principal), timeoutMs, "tunnel count");
      return Number(reply);
    },
  };
}
