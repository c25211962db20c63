import type { Store, WindowState } from "@falgate/core";
import { windowWait } from "@falgate/core/binding";
import { checkClient, checkTimeout, type RedisEvalClient, withTimeout } from "./client.js";

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /** Prefix of every key falgate writes. @default "falgate:" */
  prefix?: string;
  /** How long one Redis call may take before it fails (and falgate refuses, or fails open where configured). @default 2000 */
  timeoutMs?: number;
}

// Redis's clock, in ms: one clock for every instance. Scripts are replicated by effects (Redis >= 5).
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// SET ... NX answers OK the first time and nil after; PX (relative) lets Redis forget the id after it.
const ADD_ONCE = `return redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) and 1 or 0`;

// A sliding-window counter: a hash with the current fixed window's start and count and the previous count.
// The weighted count is previous × overlap + current (the same step as the memory store).
const HIT = `${NOW}
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local start = now - (now % window)
local w = redis.call('HMGET', KEYS[1], 's', 'c', 'p')
local s, c, p = tonumber(w[1]), tonumber(w[2]) or 0, tonumber(w[3]) or 0
if s == nil then s = start; c = 0; p = 0
elseif s ~= start then
  if start - s == window then p = c else p = 0 end
  c = 0; s = start
end
local weight = 1 - (now - s) / window
if weight < 0 then weight = 0 end
local count = p * weight + c
local allowed = 0
if count + cost <= limit then allowed = 1; c = c + cost; count = count + cost end
redis.call('HSET', KEYS[1], 's', s, 'c', c, 'p', p)
redis.call('PEXPIRE', KEYS[1], window * 2)
return {allowed, tostring(count), tostring(now - s), tostring(c), tostring(p)}`;

// A sorted set per key, one member per slot scored by its deadline. Drop expired slots, check the count, add:
// one script, so concurrent acquires never overshoot. The key lives as long as its newest slot.
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
if limit > 0 and redis.call('ZSCORE', KEYS[1], ARGV[3]) == false and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;

// Removing the last member deletes the key, so idle principals cost nothing.
const RELEASE = `return redis.call('ZREM', KEYS[1], ARGV[1])`;

const RENEW = `${NOW}
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false or tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) <= now then
  return 0
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;

const SLOTS = `${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;

// A running total that starts over after its period: the first add sets the expiry.
const ADD = `local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return tostring(total)`;

const TOTAL = `return tostring(redis.call('GET', KEYS[1]) or '0')`;

/**
 * The {@link Store} in Redis (≥ 6.2): every instance pointing at the same Redis shares single-use token ids,
 * tunnel slots, rate windows and budget totals. Each primitive is one Lua script (atomic), timed by Redis's own
 * clock, and every key expires. A call that fails or takes longer than `timeoutMs` rejects; falgate then refuses
 * (or fails open where the limits say so). Works with ioredis (`new Redis(url)`) or node-redis v4+
 * (`fromNodeRedis(client)`).
 * @example
 * const falgate = createFalgate({ store: createRedisStore(new Redis(process.env.REDIS_URL)) });
 */
export function createRedisStore(client: RedisEvalClient, options: RedisStoreOptions = {}): Store {
  checkClient(client, "createRedisStore");
  const prefix = options.prefix ?? "falgate:";
  const timeoutMs = options.timeoutMs ?? 2000;
  checkTimeout(timeoutMs, "createRedisStore");
  const run = (script: string, what: string, key: string, ...args: string[]) =>
    withTimeout(client.eval(script, 1, prefix + key, ...args), timeoutMs, what);

  return {
    async addOnce(key, ttlMs) {
      return Number(await run(ADD_ONCE, "addOnce", key, String(Math.max(1, Math.ceil(ttlMs))))) === 1;
    },
    async hit(key, limit, windowMs, cost) {
      const reply = (await run(HIT, "hit", key, String(limit), String(windowMs), String(cost))) as unknown[];
      const [allowed, count, elapsed, current, previous] = reply.map(Number) as [
        number,
        number,
        number,
        number,
        number,
      ];
      return windowState(allowed === 1, count, elapsed, current, previous, limit, windowMs);
    },
    async acquire(key, id, limit, ttlMs) {
      const command = client.eval(ACQUIRE, 1, prefix + key, String(Math.trunc(limit)), String(ttlMs), id);
      try {
        return Number(await withTimeout(command, timeoutMs, "acquire")) === 1;
      } catch (error) {
        // The script may still run once Redis answers: give that slot back instead of leaking it.
        command
          .then((late) => (Number(late) === 1 ? client.eval(RELEASE, 1, prefix + key, id) : undefined))
          .catch(() => undefined);
        throw error;
      }
    },
    async release(key, id) {
      await run(RELEASE, "release", key, id);
    },
    async renew(key, id, ttlMs) {
      return Number(await run(RENEW, "renew", key, id, String(ttlMs))) === 1;
    },
    async slots(key) {
      return Number(await run(SLOTS, "slots", key));
    },
    async add(key, amount, ttlMs) {
      return Number(await run(ADD, "add", key, String(amount), String(Math.max(1, Math.ceil(ttlMs)))));
    },
    async total(key) {
      return Number(await run(TOTAL, "total", key));
    },
  };
}

/** The window state from a script's counters (`resetMs` computed the way every store does). */
function windowState(
  allowed: boolean,
  count: number,
  elapsed: number,
  current: number,
  previous: number,
  limit: number,
  windowMs: number,
): WindowState {
  const remaining = Math.max(0, Math.floor(limit - count));
  const resetMs = allowed && remaining > 0 ? 0 : windowWait({ current, previous }, elapsed, limit, windowMs);
  return { allowed, remaining, resetMs };
}
