import type { AdmitPlan, AdmitResult, SettlePlan, Store, WindowState } from "@falgate/core";
import { checkStoreTimeout, withStoreTimeout } from "@falgate/core/binding";
import { checkClient, type RedisEvalClient } from "./client.js";

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /** Prefix of every key, on top of the keys falgate builds (which start with `limits.keyPrefix`). @default "" */
  prefix?: string;
  /**
   * How long one command may take before it rejects. The limiter bounds its own waits with `storeTimeout`
   * (default 500 ms); this one covers other callers. @default 2000
   */
  timeoutMs?: number;
}

// Each script reads Redis's clock, in ms: one clock for every instance (scripts replicate by effects, Redis >= 5).
// The arithmetic mirrors packages/core/src/store/engine.ts line for line; the shared store suite holds both to it.
const LIB = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local after_now = string.format('(%d', now)

local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

-- A sliding-window counter is a hash {s = start of the current fixed window, c = its count, p = the previous one's}.
local function window_at(key, ms)
  local v = redis.call('HMGET', key, 's', 'c', 'p')
  local start = now - (now % ms)
  local s, c, p = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  if s == nil then return start, 0, 0 end
  if s == start then return start, c, p end
  if start - s == ms then return start, 0, c end
  return start, 0, 0
end

local function weighted(start, c, p, ms)
  local w = 1 - (now - start) / ms
  if w < 0 then w = 0 end
  return p * w + c
end

local function wait_for(start, c, p, limit, ms)
  local elapsed = now - start
  local excess = weighted(start, c, p, ms) + 1 - limit
  if excess <= 0 then return 0 end
  local left = ms - elapsed
  if p > 0 then
    local wait = (excess * ms) / p
    if wait <= left then return math.ceil(wait) end
  end
  local over = c + 1 - limit
  if over <= 0 or c == 0 then return math.ceil(left) end
  return math.ceil(left + (over * ms) / c)
end

local function window_state(start, c, p, limit, ms)
  local remaining = math.floor(limit - weighted(start, c, p, ms))
  if remaining < 0 then remaining = 0 end
  local reset = 0
  if remaining <= 0 then reset = wait_for(start, c, p, limit, ms) end
  return remaining, reset
end

local function put_window(key, start, c, p, ms)
  redis.call('HSET', key, 's', start, 'c', c, 'p', p)
  redis.call('PEXPIRE', key, start + 2 * ms - now)
end

-- A slot set is a sorted set: member = slot id, score = deadline.
local function take(key, id, ttl)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  redis.call('ZADD', key, now + ttl, id)
  extend(key, ttl)
end
`;

const ADD_ONCE = `return redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) and 1 or 0`;

const HIT = `${LIB}
local limit, ms, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local start, c, p = window_at(KEYS[1], ms)
local allowed = cost <= 0 or weighted(start, c, p, ms) + cost <= limit
if allowed and cost > 0 then
  c = c + cost
  put_window(KEYS[1], start, c, p, ms)
end
local remaining, reset = window_state(start, c, p, limit, ms)
return { allowed and 1 or 0, remaining, reset }`;

const ACQUIRE = `${LIB}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[2])
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
take(KEYS[1], ARGV[1], tonumber(ARGV[3]))
return 1`;

// Removing the last member deletes the key, so idle principals cost nothing.
const RELEASE = `redis.call('ZREM', KEYS[1], ARGV[1]) return 1`;

const MOVE = `${LIB}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
take(KEYS[1], ARGV[2], tonumber(ARGV[3]))
return 1`;

const SLOTS = `${LIB}
return redis.call('ZCOUNT', KEYS[1], after_now, '+inf')`;

// INCRBYFLOAT keeps an existing key's TTL: the total is forgotten ttl after it was created.
const ADD = `local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v`;

const TOTAL = `return redis.call('GET', KEYS[1]) or '0'`;

// KEYS: [window] [total] slot sets...; ARGV: peek, has window, window limit, window ms, has total, total limit,
// slot id, slot ttl, one limit per slot set. Checks everything, then commits only if all passed.
const ADMIT = `${LIB}
local peek = ARGV[1] == '1'
local k = 1
local wkey, tkey
if ARGV[2] == '1' then wkey = KEYS[k]; k = k + 1 end
if ARGV[5] == '1' then tkey = KEYS[k]; k = k + 1 end
local first = k

local tvalue, treset = '0', 0
local total_ok = true
if tkey then
  local v = redis.call('GET', tkey)
  if v then
    tvalue = v
    local pttl = redis.call('PTTL', tkey)
    if pttl > 0 then treset = pttl end
  end
  total_ok = tonumber(tvalue) < tonumber(ARGV[6])
end

local ws, wc, wp, wlimit, wms
local window_ok = true
if wkey then
  wlimit, wms = tonumber(ARGV[3]), tonumber(ARGV[4])
  ws, wc, wp = window_at(wkey, wms)
  window_ok = weighted(ws, wc, wp, wms) + 1 <= wlimit
end

local counts = {}
local slots_ok = true
for i = first, #KEYS do
  local held = redis.call('ZCOUNT', KEYS[i], after_now, '+inf')
  counts[#counts + 1] = held
  local limit = tonumber(ARGV[9 + i - first])
  if limit > 0 and held >= limit then slots_ok = false end
end

local refused = 0
if not total_ok then refused = 1 elseif not window_ok then refused = 2 elseif not slots_ok then refused = 3 end
if refused == 0 and not peek then
  if wkey then
    wc = wc + 1
    put_window(wkey, ws, wc, wp, wms)
  end
  local ttl = tonumber(ARGV[8])
  for i = first, #KEYS do
    take(KEYS[i], ARGV[7], ttl)
    counts[i - first + 1] = redis.call('ZCARD', KEYS[i])
  end
end

local remaining, reset = -1, 0
if wkey then remaining, reset = window_state(ws, wc, wp, wlimit, wms) end
local out = { refused == 0 and 1 or 0, refused, remaining, reset, tvalue, treset }
for i = 1, #counts do out[#out + 1] = counts[i] end
return out`;

// KEYS: [total] [once] slot sets...; ARGV: slot id, has total, amount, total ttl, has once, once ttl.
// Mirrors settle() of engine.ts: the once gate, then every release, then the add (as ADD_ONCE, RELEASE, ADD).
// Replies {1, new total} when it added, {0} when not.
const SETTLE = `local k = 1
local tkey, okey
if ARGV[2] == '1' then tkey = KEYS[k]; k = k + 1 end
if ARGV[5] == '1' then okey = KEYS[k]; k = k + 1 end
local first = true
if okey then first = redis.call('SET', okey, '1', 'NX', 'PX', ARGV[6]) and true or false end
for i = k, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
if not tkey or not first then return { 0 } end
local v = redis.call('INCRBYFLOAT', tkey, ARGV[3])
if redis.call('PTTL', tkey) < 0 then redis.call('PEXPIRE', tkey, ARGV[4]) end
return { 1, v }`;

const REFUSED: readonly AdmitResult["refused"][] = [null, "total", "window", "slots"];

/** A Lua script and its SHA1, computed once (EVALSHA saves sending the script on every call). */
interface Script {
  source: string;
  sha: Promise<string | null>;
}

async function sha1(text: string): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  const digest = await subtle.digest("SHA-1", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The {@link Store} in Redis, shared by every instance that points at the same Redis: each primitive is one Lua
 * script (atomic, run on Redis's clock), and an admission — rate window, budget and concurrency slots together —
 * is one script, so one round trip; so is a settlement (slots given back and spend recorded together). Every
 * key expires on its own (slots at their deadlines, windows after two windows, totals at the end of their
 * period), so a crashed instance leaks nothing for good.
 *
 * Methods reject when Redis errors or does not answer within `timeoutMs`; the limiter then applies its
 * `onStoreError`. Give it a client that fails fast while Redis is down and reconnects by itself (ioredis:
 * `enableOfflineQueue: false`, see docs/production.md). In Redis Cluster, keep every key in one slot with a
 * hash tag in the prefix (`limits.keyPrefix: "{falgate}:"`), since an admission or a settlement touches
 * several keys.
 * @example
 * const store = createRedisStore(new Redis(process.env.REDIS_URL, { enableOfflineQueue: false }));
 * createFalgate({ store, limits: { rate: "60/min" } });
 */
export function createRedisStore(client: RedisEvalClient, options: RedisStoreOptions = {}): Store {
  checkClient(client, "createRedisStore");
  const prefix = options.prefix ?? "";
  if (typeof prefix !== "string")
    throw new TypeError("falgate: createRedisStore option `prefix` must be a string");
  const timeoutMs = checkStoreTimeout(options.timeoutMs ?? 2000, "createRedisStore");
  const script = (source: string): Script => {
    const sha = sha1(source).catch(() => null);
    return { source, sha };
  };
  const scripts = {
    addOnce: script(ADD_ONCE),
    hit: script(HIT),
    acquire: script(ACQUIRE),
    release: script(RELEASE),
    move: script(MOVE),
    slots: script(SLOTS),
    add: script(ADD),
    total: script(TOTAL),
    admit: script(ADMIT),
    settle: script(SETTLE),
  };

  const evaluate = async (s: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> => {
    const full = keys.map((key) => prefix + key);
    if (client.evalsha) {
      const sha = await s.sha;
      if (sha) {
        try {
          return await client.evalsha(sha, full.length, ...full, ...args);
        } catch (error) {
          // After a restart or SCRIPT FLUSH Redis no longer knows the script: EVAL loads it again.
          if (!/NOSCRIPT/.test(error instanceof Error ? error.message : String(error))) throw error;
        }
      }
    }
    return client.eval(s.source, full.length, ...full, ...args);
  };
  const run = (s: Script, keys: readonly string[], args: readonly (string | number)[]) =>
    evaluate(s, keys, args.map(String));

  const store: Store = {
    async addOnce(key, ttlMs) {
      return Number(await run(scripts.addOnce, [key], [Math.max(1, Math.ceil(ttlMs))])) === 1;
    },
    async hit(key, limit, windowMs, cost): Promise<WindowState> {
      const reply = asArray(await run(scripts.hit, [key], [limit, windowMs, cost]));
      return { allowed: Number(reply[0]) === 1, remaining: Number(reply[1]), resetMs: Number(reply[2]) };
    },
    async acquire(key, id, limit, ttlMs) {
      return Number(await run(scripts.acquire, [key], [id, Math.trunc(limit), ttlMs])) === 1;
    },
    async release(key, id) {
      await run(scripts.release, [key], [id]);
    },
    async renew(key, id, ttlMs) {
      return Number(await run(scripts.move, [key], [id, id, ttlMs])) === 1;
    },
    async move(key, from, to, ttlMs) {
      return Number(await run(scripts.move, [key], [from, to, ttlMs])) === 1;
    },
    async slots(key) {
      return Number(await run(scripts.slots, [key], []));
    },
    async add(key, amount, ttlMs) {
      return Number(await run(scripts.add, [key], [amount, Math.max(1, Math.ceil(ttlMs))]));
    },
    async total(key) {
      return Number(await run(scripts.total, [key], []));
    },
    async admit(plan: AdmitPlan): Promise<AdmitResult> {
      const keys: string[] = [];
      if (plan.window) keys.push(plan.window.key);
      if (plan.total) keys.push(plan.total.key);
      for (const set of plan.slots) keys.push(set.key);
      const args: (string | number)[] = [
        plan.peek ? 1 : 0,
        plan.window ? 1 : 0,
        plan.window?.limit ?? 0,
        plan.window?.windowMs ?? 1,
        plan.total ? 1 : 0,
        plan.total?.limit ?? 0,
        plan.id,
        Math.max(1, Math.ceil(plan.ttlMs)),
        ...plan.slots.map((set) => Math.trunc(set.limit)),
      ];
      const reply = asArray(await run(scripts.admit, keys, args));
      const admitted = Number(reply[0]) === 1;
      return {
        admitted,
        refused: REFUSED[Number(reply[1])] ?? null,
        window: plan.window
          ? {
              allowed: admitted && !plan.peek,
              remaining: Number(reply[2]),
              resetMs: Number(reply[3]),
            }
          : null,
        total: plan.total ? { value: Number(reply[4]), resetMs: Number(reply[5]) } : null,
        slots: reply.slice(6).map(Number),
      };
    },
    async settle(plan: SettlePlan): Promise<number | null> {
      const charge = plan.add ?? null;
      const once = charge?.once ?? null;
      const keys: string[] = [];
      if (charge) keys.push(charge.key);
      if (once) keys.push(once.key);
      keys.push(...plan.release);
      const args: (string | number)[] = [
        plan.id,
        charge ? 1 : 0,
        charge?.amount ?? 0,
        Math.max(1, Math.ceil(charge?.ttlMs ?? 1)),
        once ? 1 : 0,
        Math.max(1, Math.ceil(once?.ttlMs ?? 1)),
      ];
      const reply = asArray(await run(scripts.settle, keys, args));
      return Number(reply[0]) === 1 ? Number(reply[1]) : null;
    },
  };
  // Clients queue commands while Redis is away (ioredis retries forever by default): no call may hang on that.
  return withStoreTimeout(store, timeoutMs, "Redis");
}

function asArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error("falgate: unexpected reply from a Redis script");
  return reply;
}
