import type { Store } from "./types.js";

/**
 * `store` with every call bounded by `timeoutMs`, for a store behind a network (Redis, a Durable Object): a call
 * that takes longer rejects instead of holding a request. The call is not cancelled, only no longer waited for; a
 * slot it took after that is given back, since nobody holds it. `name` says which store in the error.
 */
export function withStoreTimeout(store: Store, timeoutMs: number, name: string): Store {
  const bound = <T>(what: string, call: () => Promise<T>, late?: (value: T) => void): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const pending = call();
    if (late) pending.then((value) => timedOut && late(value)).catch(() => undefined);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`falgate: ${name} did not answer (${what}) within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
  };
  const giveBack = (key: string, id: string) => (taken: boolean) => {
    if (taken) store.release(key, id).catch(() => undefined);
  };
  return {
    addOnce: (key, ttlMs) => bound("addOnce", () => store.addOnce(key, ttlMs)),
    hit: (key, limit, windowMs, cost) => bound("hit", () => store.hit(key, limit, windowMs, cost)),
    acquire: (key, id, limit, ttlMs) =>
      bound("acquire", () => store.acquire(key, id, limit, ttlMs), giveBack(key, id)),
    release: (key, id) => bound("release", () => store.release(key, id)),
    renew: (key, id, ttlMs) => bound("renew", () => store.renew(key, id, ttlMs)),
    move: (key, from, to, ttlMs) => bound("move", () => store.move(key, from, to, ttlMs)),
    slots: (key) => bound("slots", () => store.slots(key)),
    add: (key, amount, ttlMs) => bound("add", () => store.add(key, amount, ttlMs)),
    total: (key) => bound("total", () => store.total(key)),
    admit: (plan) => bound("admission", () => store.admit(plan)),
    settle: (plan) => bound("settle", () => store.settle(plan)),
  };
}

/** Checks a store's `timeoutMs` option (a positive number of milliseconds), naming `where` in the error. */
export function checkStoreTimeout(timeoutMs: unknown, where: string): number {
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`falgate: ${where} option \`timeoutMs\` must be a positive number`);
  }
  return timeoutMs;
}
