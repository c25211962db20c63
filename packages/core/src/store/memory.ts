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
 * A `Map` of cells holding at most `maxKeys`, where no operation walks the whole table. Replay ids (`once` cells)
 * sit in a heap by expiry and are dropped as they expire (O(log n) each, once). Other cells are swept once as many
 * new keys came in as there are of them (amortised O(1) per new key); when the table is full of live cells, the
 * oldest other key (insertion order) is dropped: that key's limit forgets what it counted, which beats unbounded
 * memory. Replay ids are never dropped early (that would reopen a replay): when only live ones are left, a new key
 * is refused (fail closed) at O(1) cost.
 */
function boundedTable(maxKeys: number, now: () => number): CellTable {
  const cells = new Map<string, Cell>();
  /** Keys of the cells that are not replay ids, oldest first. */
  const others = new Set<string>();
  const onces = expiryHeap();
  let newSinceSweep = 0;
  const sweepOthers = (at: number) => {
    for (const key of others) {
      const cell = cells.get(key);
      if (cell === undefined || cell.exp <= at) {
        cells.delete(key);
        others.delete(key);
      }
    }
    newSinceSweep = 0;
  };
  const dropExpiredOnces = (at: number) => {
    while (onces.nextExp() <= at) {
      const exp = onces.nextExp();
      const key = onces.pop();
      const cell = cells.get(key);
      // A stale entry (the id was added again since) leaves the live cell alone.
      if (cell?.t === "once" && cell.exp === exp) cells.delete(key);
    }
  };
  return {
    get: (key) => cells.get(key),
    set(key, cell) {
      if (!cells.has(key)) {
        const at = now();
        dropExpiredOnces(at);
        if (++newSinceSweep > Math.max(others.size, 1024)) sweepOthers(at);
        if (cells.size >= maxKeys && others.size > 0 && newSinceSweep * 8 >= others.size) sweepOthers(at);
        while (cells.size >= maxKeys) {
          const oldest = others.values().next();
          if (oldest.done) {
            throw new FalgateError("rate_limited", "Too many single-use ids in flight; try again shortly.", {
              headers: { "retry-after": "5" },
            });
          }
          cells.delete(oldest.value);
          others.delete(oldest.value);
        }
      }
      if (cell.t === "once") {
        others.delete(key);
        onces.push(cell.exp, key);
      } else others.add(key);
      cells.set(key, cell);
    },
    delete: (key) => {
      cells.delete(key);
      others.delete(key);
    },
  };
}

/** A binary min-heap of `(exp, key)`, earliest expiry on top. */
function expiryHeap() {
  const exps: number[] = [];
  const keys: string[] = [];
  const swap = (a: number, b: number) => {
    [exps[a], exps[b]] = [exps[b]!, exps[a]!];
    [keys[a], keys[b]] = [keys[b]!, keys[a]!];
  };
  return {
    /** The earliest expiry, `Infinity` when empty. */
    nextExp: (): number => (exps.length === 0 ? Number.POSITIVE_INFINITY : exps[0]!),
    push(exp: number, key: string): void {
      let i = exps.push(exp) - 1;
      keys.push(key);
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (exps[parent]! <= exps[i]!) break;
        swap(i, parent);
        i = parent;
      }
    },
    /** Removes the earliest entry and returns its key (call only when not empty). */
    pop(): string {
      const key = keys[0]!;
      const last = exps.length - 1;
      swap(0, last);
      exps.pop();
      keys.pop();
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let least = i;
        if (l < exps.length && exps[l]! < exps[least]!) least = l;
        if (r < exps.length && exps[r]! < exps[least]!) least = r;
        if (least === i) break;
        swap(i, least);
        i = least;
      }
      return key;
    },
  };
}
