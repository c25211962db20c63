import { FalgateError } from "../errors.js";
import { type Cell, type CellTable, createCellStore } from "./engine.js";
import type { Store } from "./types.js";

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /** The clock, ms since the epoch (tests). @default Date.now */
  now?: () => number;
  /** Most keys kept at once; past it, expired entries are swept, then the oldest dropped. @default 100_000 */
  maxKeys?: number;
}

/**
 * The in-process {@link Store}: the default, right for one instance (each instance of a cluster would count on
 * its own). Rate windows are sliding-window counters (the previous fixed window weighted by how much of it still
 * overlaps the sliding one), so a burst of `limit` calls is allowed at once and the rate then smooths out.
 * Memory stays bounded: expired entries are swept as new keys come in, and past `maxKeys` the oldest key goes.
 * @example
 * const falgate = createFalgate({ store: createMemoryStore(), limits: { rate: "60/min" } });
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) {
    throw new TypeError("falgate: option `maxKeys` must be an integer >= 1");
  }
  const store = createCellStore(boundedTable(maxKeys, now), now);
  LOCAL.add(store);
  return store;
}

const LOCAL = new WeakSet<Store>();

/** True for a store made by {@link createMemoryStore}: in-process, never slow, never failing. */
export function isLocalStore(store: Store): boolean {
  return LOCAL.has(store);
}

/**
 * A `Map` of cells holding at most `maxKeys`. Each new key pays for its room: once as many keys have come in as
 * the table holds, expired cells are swept (amortised O(1) per new key); when it is full of live cells, the
 * oldest key (insertion order) that is not a replay id is dropped: that key's limit forgets what it counted, which
 * beats unbounded memory.
 */
function boundedTable(maxKeys: number, now: () => number): CellTable {
  const cells = new Map<string, Cell>();
  let newSinceSweep = 0;
  const sweep = () => {
    const at = now();
    for (const [key, cell] of cells) if (cell.exp <= at) cells.delete(key);
    newSinceSweep = 0;
  };
  return {
    get: (key) => cells.get(key),
    set(key, cell) {
      if (!cells.has(key)) {
        if (++newSinceSweep > Math.max(cells.size, 1024) || cells.size >= maxKeys) sweep();
        while (cells.size >= maxKeys) {
          // Replay ids are never forgotten early (that would reopen a replay): the oldest other key goes instead,
          // and when only live replay ids are left, the new key is refused (fail closed).
          let oldest: string | undefined;
          for (const [k, c] of cells) {
            if (c.t !== "once") {
              oldest = k;
              break;
            }
          }
          if (oldest === undefined) {
            throw new FalgateError("rate_limited", "Too many single-use ids in flight; try again shortly.", {
              headers: { "retry-after": "5" },
            });
          }
          cells.delete(oldest);
        }
      }
      cells.set(key, cell);
    },
    delete: (key) => {
      cells.delete(key);
    },
  };
}
