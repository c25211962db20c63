import type { Store } from "@falgate/core";
import {
  type Cell,
  type CellTable,
  checkStoreTimeout,
  runStoreOp,
  type StoreOp,
  type StoreOpResults,
  storeOpKeys,
  withStoreTimeout,
} from "@falgate/core/binding";

/** The part of a Durable Object's `ctx.storage` the store uses (kept local so no Workers types are required). */
export interface DurableObjectStorageLike {
  get<T = unknown>(keys: string[]): Promise<Map<string, T>>;
  put<T>(entries: Record<string, T>): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list<T = unknown>(options?: { startAfter?: string; limit?: number }): Promise<Map<string, T>>;
  setAlarm(scheduledTime: number): Promise<void>;
}

/** The part of a Durable Object's state (`ctx`) the store uses. */
export interface DurableObjectStateLike {
  readonly storage: DurableObjectStorageLike;
}

/** The part of a Durable Object namespace binding (`env.FALGATE_STORE`) {@link createDurableObjectStore} uses. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: never): { fetch(input: string, init?: RequestInit): Promise<Response> };
}

/** Options of {@link createDurableObjectStore}. */
export interface DurableObjectStoreOptions {
  /**
   * Name of the object holding the counters. One object serves one app: every admission is one call to it,
   * atomic, with the account-wide cap in the same place. Give separate apps (or tenants) separate names.
   * @default "falgate"
   */
  name?: string;
  /**
   * How long one store call may take before it rejects (the limits then apply `onStoreError`; a single-use token
   * check or a tunnel slot is refused). @default 2000
   */
  timeoutMs?: number;
}

/** Expired entries are swept this often while the object holds any. */
const SWEEP_EVERY = 15 * 60_000;
/** Most keys one storage `get` or `delete` takes. */
const BATCH = 128;
const OPS: ReadonlySet<string> = new Set([
  "addOnce",
  "hit",
  "acquire",
  "release",
  "renew",
  "move",
  "slots",
  "add",
  "total",
  "admit",
  "settle",
]);
const ENDPOINT = "https://falgate-store.internal/";

/**
 * The Durable Object behind {@link createDurableObjectStore}: export it from your Worker and bind it
 * (`class_name = "FalgateStore"`, with a migration that creates it; see docs/production.md). Each operation loads
 * the few entries it names from the object's storage, runs falgate's store semantics on them, and writes back
 * what changed. A Durable Object handles one event at a time while its storage calls are pending (input gates),
 * so every operation is atomic; state survives restarts; an alarm sweeps expired entries.
 * @example
 * export { FalgateStore } from "@falgate/cloudflare";
 */
export class FalgateStore {
  private alarmSet = false;

  constructor(
    private readonly state: DurableObjectStateLike,
    _env?: unknown,
  ) {}

  /** Runs one store operation posted by {@link createDurableObjectStore}. */
  async fetch(request: Request): Promise<Response> {
    let op: StoreOp;
    try {
      op = (await request.json()) as StoreOp;
      if (typeof op !== "object" || op === null || !OPS.has(op.op)) throw new Error("unknown operation");
    } catch {
      return new Response("falgate: not a store operation", { status: 400 });
    }
    return Response.json({ result: await this.run(op) });
  }

  /** Sweeps expired entries, and keeps sweeping while any are left. */
  async alarm(): Promise<void> {
    const at = Date.now();
    let startAfter: string | undefined;
    let left = 0;
    for (;;) {
      const page = await this.state.storage.list<Cell>({
        limit: 1000,
        ...(startAfter ? { startAfter } : {}),
      });
      const expired: string[] = [];
      for (const [key, cell] of page) {
        if (cell.exp <= at) expired.push(key);
        else left++;
        startAfter = key;
      }
      for (let i = 0; i < expired.length; i += BATCH)
        await this.state.storage.delete(expired.slice(i, i + BATCH));
      if (page.size < 1000) break;
    }
    this.alarmSet = left > 0;
    if (this.alarmSet) await this.state.storage.setAlarm(at + SWEEP_EVERY);
  }

  private async run(op: StoreOp): Promise<unknown> {
    const keys = storeOpKeys(op);
    const loaded = await this.state.storage.get<Cell>(keys);
    const changed = new Map<string, Cell>();
    const deleted = new Set<string>();
    const table: CellTable = {
      get: (key) => (deleted.has(key) ? undefined : (changed.get(key) ?? loaded.get(key))),
      set: (key, cell) => {
        deleted.delete(key);
        changed.set(key, cell);
      },
      delete: (key) => {
        changed.delete(key);
        deleted.add(key);
      },
    };
    const result = runStoreOp(table, Date.now(), op);
    const writes: Promise<unknown>[] = [];
    if (changed.size > 0) writes.push(this.state.storage.put(Object.fromEntries(changed)));
    if (deleted.size > 0) writes.push(this.state.storage.delete([...deleted]));
    if (changed.size > 0 && !this.alarmSet) {
      this.alarmSet = true;
      writes.push(this.state.storage.setAlarm(Date.now() + SWEEP_EVERY));
    }
    await Promise.all(writes);
    return result;
  }
}

/**
 * The {@link Store} for Workers: every instance of the Worker, everywhere, shares one Durable Object
 * ({@link FalgateStore}), and each store call (an admission included) is one request to it. The object's own
 * clock is the only clock. Calls reject when the object cannot be reached; the limiter then applies its
 * `onStoreError`.
 * @example
 * export { FalgateStore } from "@falgate/cloudflare";
 * export default createFalgateHandler<Env>((env) => ({
 *   store: createDurableObjectStore(env.FALGATE_STORE),
 *   limits: { rate: "60/min" },
 * }));
 */
export function createDurableObjectStore(
  namespace: DurableObjectNamespaceLike,
  options: DurableObjectStoreOptions = {},
): Store {
  if (typeof namespace?.idFromName !== "function" || typeof namespace.get !== "function") {
    throw new TypeError(
      "falgate: createDurableObjectStore needs a Durable Object namespace binding (env.FALGATE_STORE)",
    );
  }
  const name = options.name ?? "falgate";
  if (typeof name !== "string" || name === "") {
    throw new TypeError("falgate: createDurableObjectStore option `name` must be a non-empty string");
  }
  const timeoutMs = checkStoreTimeout(options.timeoutMs ?? 2000, "createDurableObjectStore");
  let id: unknown;
  const call = async <O extends StoreOp>(op: O): Promise<StoreOpResults[O["op"]]> => {
    id ??= namespace.idFromName(name);
    const response = await namespace.get(id as never).fetch(ENDPOINT, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(op),
    });
    if (!response.ok) throw new Error(`falgate: the store object answered ${response.status}`);
    return ((await response.json()) as { result: StoreOpResults[O["op"]] }).result;
  };
  const store: Store = {
    addOnce: (key, ttlMs) => call({ op: "addOnce", key, ttlMs }),
    hit: (key, limit, windowMs, cost) => call({ op: "hit", key, limit, windowMs, cost }),
    acquire: (key, id, limit, ttlMs) => call({ op: "acquire", key, id, limit, ttlMs }),
    release: async (key, id) => {
      await call({ op: "release", key, id });
    },
    renew: (key, id, ttlMs) => call({ op: "renew", key, id, ttlMs }),
    move: (key, from, to, ttlMs) => call({ op: "move", key, from, to, ttlMs }),
    slots: (key) => call({ op: "slots", key }),
    add: (key, amount, ttlMs) => call({ op: "add", key, amount, ttlMs }),
    total: (key) => call({ op: "total", key }),
    admit: (plan) => call({ op: "admit", plan }),
    settle: (plan) => call({ op: "settle", plan }),
  };
  return withStoreTimeout(store, timeoutMs, "the store object");
}
