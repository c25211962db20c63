import { FalgateError } from "../errors.js";
import type { Store, WindowState } from "./types.js";

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /** The clock, ms since the epoch (tests). @default Date.now */
  now?: () => number;
  /**
   * Most keys of one kind kept at once; past it, expired entries are swept, then the oldest dropped (replay ids are
   * never dropped early: `addOnce` refuses with `rate_limited` instead). @default 100_000
   */
  maxKeys?: number;
}

interface Window {
  /** Start of the current fixed window. */
  start: number;
  current: number;
  previous: number;
}

interface Total {
  value: number;
  expiresAt: number;
}

/**
 * The in-process {@link Store}: the default, right for one instance (each instance of a cluster would count on
 * its own). Rate windows are sliding-window counters (the previous fixed window weighted by how much of it still
 * overlaps the sliding one), so a burst of `limit` calls is allowed at once and the rate then smooths out.
 * @example
 * const falgate = createFalgate({ store: createMemoryStore(), limits: { rate: "60/min" } });
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) {
    throw new TypeError("falgate: option `maxKeys` must be an integer >= 1");
  }
  const once = new Map<string, number>();
  const windows = new Map<string, Window>();
  const slotSets = new Map<string, Map<string, number>>();
  const totals = new Map<string, Total>();

  /** Makes room for one more key: expired entries first, then the oldest (insertion order). */
  function room<V>(map: Map<string, V>, expired: (value: V, at: number) => boolean): void {
    if (map.size < maxKeys) return;
    const at = now();
    for (const [key, value] of map) if (expired(value, at)) map.delete(key);
    while (map.size >= maxKeys) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
    }
  }

  function liveSlots(key: string, at: number): Map<string, number> | undefined {
    const set = slotSets.get(key);
    if (!set) return undefined;
    for (const [id, deadline] of set) if (deadline <= at) set.delete(id);
    if (set.size === 0) {
      slotSets.delete(key);
      return undefined;
    }
    return set;
  }

  return {
    async addOnce(key, ttlMs) {
      const at = now();
      const until = once.get(key);
      if (until !== undefined && until > at) return false;
      once.delete(key);
      if (once.size >= maxKeys) {
        for (const [k, expiresAt] of once) if (expiresAt <= at) once.delete(k);
        // Forgetting an unexpired id would let it be replayed: refuse instead (fail closed).
        if (once.size >= maxKeys) {
          throw new FalgateError("rate_limited", "Too many single-use ids in flight; try again shortly.", {
            headers: { "retry-after": "5" },
          });
        }
      }
      once.set(key, at + ttlMs);
      return true;
    },

    async hit(key, limit, windowMs, cost) {
      const at = now();
      let w = windows.get(key);
      const start = at - (at % windowMs);
      if (!w) {
        room(windows, (value, t) => t - value.start >= 2 * windowMs);
        w = { start, current: 0, previous: 0 };
        windows.set(key, w);
      } else if (w.start !== start) {
        w.previous = start - w.start === windowMs ? w.current : 0;
        w.current = 0;
        w.start = start;
      }
      return slide(w, at, limit, windowMs, cost);
    },

    async acquire(key, id, limit, ttlMs) {
      const at = now();
      let set = liveSlots(key, at);
      if (limit > 0 && set !== undefined && set.size >= limit && !set.has(id)) return false;
      if (!set) {
        room(slotSets, () => false);
        set = new Map();
        slotSets.set(key, set);
      }
      set.set(id, at + ttlMs);
      return true;
    },

    async release(key, id) {
      const set = slotSets.get(key);
      if (!set) return;
      set.delete(id);
      if (set.size === 0) slotSets.delete(key);
    },

    async renew(key, id, ttlMs) {
      const at = now();
      const set = liveSlots(key, at);
      if (!set?.has(id)) return false;
      set.set(id, at + ttlMs);
      return true;
    },

    async slots(key) {
      return liveSlots(key, now())?.size ?? 0;
    },

    async add(key, amount, ttlMs) {
      const at = now();
      let total = totals.get(key);
      if (total === undefined || total.expiresAt <= at) {
        totals.delete(key);
        room(totals, (value, t) => value.expiresAt <= t);
        total = { value: 0, expiresAt: at + ttlMs };
        totals.set(key, total);
      }
      total.value += amount;
      return total.value;
    },

    async total(key) {
      const total = totals.get(key);
      return total === undefined || total.expiresAt <= now() ? 0 : total.value;
    },
  };
}

/**
 * The sliding-window step shared by every store: the weighted count is `previous × overlap + current`, where
 * `overlap` is the share of the previous fixed window still inside the sliding one. Mutates `w` when the hit counts.
 */
export function slide(
  w: { start: number; current: number; previous: number },
  at: number,
  limit: number,
  windowMs: number,
  cost: number,
): WindowState {
  const elapsed = at - w.start;
  const weight = Math.max(0, 1 - elapsed / windowMs);
  const count = w.previous * weight + w.current;
  const allowed = count + cost <= limit;
  if (allowed) w.current += cost;
  const after = allowed ? count + cost : count;
  const remaining = Math.max(0, Math.floor(limit - after));
  return {
    allowed,
    remaining,
    resetMs: allowed && remaining > 0 ? 0 : windowWait(w, elapsed, limit, windowMs),
  };
}

/**
 * Milliseconds until one more request fits a sliding window (`elapsed` ms into the current fixed window), as the
 * previous window's weight decays. Shared by every store so they all answer `resetMs` alike.
 */
export function windowWait(
  w: { current: number; previous: number },
  elapsed: number,
  limit: number,
  windowMs: number,
): number {
  const count = w.previous * Math.max(0, 1 - elapsed / windowMs) + w.current;
  const excess = count + 1 - limit;
  if (excess <= 0) return 0;
  const leftInWindow = windowMs - elapsed;
  // Within this window only the previous window's share decays, at previous/windowMs per ms.
  if (w.previous > 0) {
    const t = (excess * windowMs) / w.previous;
    if (t <= leftInWindow) return Math.ceil(t);
  }
  // After the boundary the current window becomes the previous one and decays in turn.
  const over = w.current + 1 - limit;
  if (over <= 0 || w.current === 0) return Math.ceil(leftInWindow);
  return Math.ceil(leftInWindow + (over * windowMs) / w.current);
}
