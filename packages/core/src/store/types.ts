/**
 * The one interface for state falgate shares between requests, and between instances when one machine is not
 * enough: replay ids (single-use tokens, webhook request ids), rate windows, concurrency slots (HTTP calls, queue
 * jobs, tunnels) and budget spend. Every primitive is atomic and every entry expires, so a crashed instance never
 * leaks a slot or a counter for good. Implementations: memory (the default, one instance), Redis
 * (`@falgate/redis`, Lua scripts) and a Durable Object (`@falgate/cloudflare`); one shared test suite runs on each.
 *
 * Keys are opaque strings built by falgate (`<prefix><kind>:<principal>...`); an implementation may prefix them
 * but must not interpret them. Times are milliseconds. Methods reject when the backing service fails; callers
 * (the limiter) decide whether that fails open or closed.
 */
export interface Store {
  /**
   * Remembers `key` for `ttlMs`. Resolves `true` the first time, `false` while it is still remembered.
   * Used for replay protection (falgate token `jti`s, fal webhook request ids).
   */
  addOnce(key: string, ttlMs: number): Promise<boolean>;

  /**
   * A rate window: adds `cost` to the requests counted for `key` in the current window when the total stays
   * within `limit`, and reports what is left. `cost: 0` only reads.
   */
  hit(key: string, limit: number, windowMs: number, cost: number): Promise<WindowState>;

  /**
   * Takes the slot `id` in the set `key` when fewer than `limit` unexpired slots are held (`limit <= 0`: no cap).
   * The slot expires `ttlMs` after it was taken unless released or renewed first.
   */
  acquire(key: string, id: string, limit: number, ttlMs: number): Promise<boolean>;
  /** Gives back the slot `id` of `key`; a slot that is already gone is not an error. */
  release(key: string, id: string): Promise<void>;
  /** Moves the deadline of slot `id` to `ttlMs` from now; resolves `false` when the slot is gone. */
  renew(key: string, id: string, ttlMs: number): Promise<boolean>;
  /** How many unexpired slots `key` holds. */
  slots(key: string): Promise<number>;

  /**
   * Adds `amount` to the running total of `key` (a budget period) and resolves the new total. The total is
   * forgotten `ttlMs` after it was first created (the end of the period).
   */
  add(key: string, amount: number, ttlMs: number): Promise<number>;
  /** The running total of `key` (0 when none). */
  total(key: string): Promise<number>;
}

/** What a rate window looks like after a {@link Store.hit}. */
export interface WindowState {
  /** True when the hit was counted (always true for `cost: 0`). */
  allowed: boolean;
  /** Requests still allowed in the window after this hit. */
  remaining: number;
  /** Milliseconds until the window frees up enough for one more request (0 when one is free now). */
  resetMs: number;
}
