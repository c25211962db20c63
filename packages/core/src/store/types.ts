/**
 * The one interface for state falgate shares between requests, and between instances when one machine is not
 * enough: replay ids (single-use tokens, webhook request ids), rate windows, concurrency slots (HTTP calls, queue
 * jobs, tunnels) and budget spend. Every primitive is atomic and every entry expires, so a crashed instance never
 * leaks a slot or a counter for good. Implementations: memory (the default, one instance), Redis
 * (`@falgate/redis`, Lua scripts) and a Durable Object (`@falgate/cloudflare`); one shared test suite runs on each.
 *
 * Keys are opaque strings built by falgate (`<prefix><kind>:<principal>...`); an implementation may prefix them
 * but must not interpret them. Times are milliseconds; each implementation reads one clock (its own process, Redis's
 * `TIME`, the Durable Object's), so instances with skewed clocks still agree. Methods reject when the backing
 * service fails; callers (the limiter) decide whether that fails open or closed.
 *
 * The semantics are written once, in `store/engine.ts` (memory and Durable Object run that code; Redis mirrors it
 * in Lua), and checked on every implementation by the shared store suite.
 */
export interface Store {
  /**
   * Remembers `key` for `ttlMs`. Resolves `true` the first time, `false` while it is still remembered.
   * Used for replay protection (falgate token `jti`s, fal webhook request ids) and to charge a fal request once.
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
  /**
   * Renames the slot `from` of `key` to `to`, with a deadline `ttlMs` from now, whatever the cap: the slot stays
   * taken throughout (a call's slot becoming its queue job's). Resolves `false`, and takes nothing, when `from`
   * is gone (released or expired).
   */
  move(key: string, from: string, to: string, ttlMs: number): Promise<boolean>;
  /** How many unexpired slots `key` holds. */
  slots(key: string): Promise<number>;

  /**
   * Adds `amount` to the running total of `key` (a budget period) and resolves the new total. The total is
   * forgotten `ttlMs` after it was first created (the end of the period).
   */
  add(key: string, amount: number, ttlMs: number): Promise<number>;
  /** The running total of `key` (0 when none). */
  total(key: string): Promise<number>;

  /**
   * One admission, atomically and in one round trip: checks the budget total, the rate window and every slot
   * set of `plan` and, only when all of them pass (and `plan.peek` is not set), counts one request in the window
   * and takes the slot `plan.id` in each set. A refused admission changes nothing.
   */
  admit(plan: AdmitPlan): Promise<AdmitResult>;

  /**
   * One settlement, atomically and in one round trip: gives back the slot `plan.id` in every set of
   * `plan.release` (as {@link Store.release}: a slot already gone is not an error) and, when `plan.add` is set,
   * adds to that running total (as {@link Store.add}) unless `plan.add.once` names a key still remembered (as
   * {@link Store.addOnce}, which then remembers it). Resolves the new total when the amount was added, else `null`.
   */
  settle(plan: SettlePlan): Promise<number | null>;
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

/** The checks of one {@link Store.admit}. */
export interface AdmitPlan {
  /** A rate window the call counts one request in, or `null`. */
  window: { key: string; limit: number; windowMs: number } | null;
  /** A running total that must stay below `limit` (a budget: refused once spent >= budget), or `null`. */
  total: { key: string; limit: number } | null;
  /** Slot sets that must each have room (`limit > 0`); the call takes the slot `id` in every one. */
  slots: readonly { key: string; limit: number }[];
  /** The slot id taken in each set. */
  id: string;
  /** How long the slots are held unless released, renewed or moved first. */
  ttlMs: number;
  /** Only report: count nothing, take nothing (what a usage read needs). */
  peek?: boolean;
}

/** What a {@link Store.admit} found. */
export interface AdmitResult {
  /** True when every check passed (and, unless peeking, the call was counted and its slots taken). */
  admitted: boolean;
  /** The first check that failed, in this order: budget total, rate window, slots; `null` when admitted. */
  refused: "total" | "window" | "slots" | null;
  /** The rate window after the admission (`remaining` counts this call when it was admitted), or `null`. */
  window: WindowState | null;
  /** The budget total and the milliseconds until it is forgotten (0 when there is none yet), or `null`. */
  total: { value: number; resetMs: number } | null;
  /** Unexpired slots in each set of `plan.slots`, in order (this call's included when it was admitted). */
  slots: number[];
}

/** What one {@link Store.settle} does. */
export interface SettlePlan {
  /** Slot sets to give the slot `id` back to (may be empty). */
  release: readonly string[];
  /** The slot id given back in each set. */
  id: string;
  /**
   * A running total to add `amount` to, forgotten `ttlMs` after it was first created (as {@link Store.add}), or
   * `null`. With `once`, only the first settlement naming `once.key` within `once.ttlMs` adds (a queue job charged
   * once, however often its result is read).
   */
  add?: {
    key: string;
    amount: number;
    ttlMs: number;
    once?: { key: string; ttlMs: number } | null;
  } | null;
}
