import { FalgateError } from "../errors.js";

/**
 * Remembers token ids (`jti`) so a single-use token works once. Share one store between every instance
 * that verifies tokens (e.g. Redis `SET jti 1 NX PXAT expiresAt`) for single use across a cluster.
 */
export interface ReplayStore {
  /**
   * Records `jti`; resolves `true` the first time, `false` if it was seen before.
   * `expiresAt` (ms since the epoch) is when the token expires: the id may be forgotten after it.
   */
  consume(jti: string, expiresAt: number): Promise<boolean>;
}

/** Options of {@link createMemoryReplayStore}. */
export interface MemoryReplayStoreOptions {
  /** Most ids remembered at once; when full of unexpired ids, new tokens are refused (fail closed). @default 100_000 */
  maxEntries?: number;
  /** The clock, in ms since the epoch (tests). @default Date.now */
  now?: () => number;
}

/**
 * An in-process {@link ReplayStore}: bounded, forgets ids once their token has expired. Good for one
 * instance; each instance of a cluster would accept a token once.
 */
export function createMemoryReplayStore(options: MemoryReplayStoreOptions = {}): ReplayStore {
  const maxEntries = options.maxEntries ?? 100_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError("falgate: option `maxEntries` must be an integer >= 1");
  }
  const now = options.now ?? Date.now;
  // Insertion order is roughly expiry order (tokens have similar lifetimes), so sweeping from the front is cheap.
  const seen = new Map<string, number>();

  function sweep(at: number, all: boolean): void {
    for (const [jti, expiresAt] of seen) {
      if (expiresAt <= at) seen.delete(jti);
      else if (!all) return;
    }
  }

  return {
    async consume(jti, expiresAt) {
      const at = now();
      sweep(at, false);
      const known = seen.get(jti);
      if (known !== undefined && known > at) return false;
      if (seen.size >= maxEntries) sweep(at, true);
      if (seen.size >= maxEntries) {
        throw new FalgateError("rate_limited", "Too many tokens in flight; try again shortly.", {
          headers: { "retry-after": "5" },
        });
      }
      seen.delete(jti);
      seen.set(jti, expiresAt);
      return true;
    },
  };
}
