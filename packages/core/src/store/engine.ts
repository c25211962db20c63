import type { AdmitPlan, AdmitResult, SettlePlan, Store, WindowState } from "./types.js";

/**
 * The semantics of every {@link Store} primitive, written once over a synchronous table of cells. The memory
 * store runs it on a `Map`; the Durable Object store loads the few cells an operation names, runs it, and writes
 * back what changed; the Redis store mirrors it in Lua (same arithmetic, same order). Every cell carries `exp`,
 * the time after which it means nothing and may be dropped.
 */
export type Cell =
  /** A remembered id (`addOnce`). */
  | { t: "once"; exp: number }
  /** A sliding-window counter: the current fixed window and the count of the one before it. */
  | { t: "win"; start: number; cur: number; prev: number; exp: number }
  /** A slot set: slot id → deadline (a `Map`: any id is safe, and structured clone keeps it). `exp` is the latest deadline ever set. */
  | { t: "slots"; held: Map<string, number>; exp: number }
  /** A running total (budget period). */
  | { t: "sum"; value: number; exp: number };

/** Synchronous storage of cells, keyed by the store's keys. */
export interface CellTable {
  get(key: string): Cell | undefined;
  set(key: string, cell: Cell): void;
  delete(key: string): void;
}

/** One store operation as data: what the Durable Object store sends to its object. */
export type StoreOp =
  | { op: "addOnce"; key: string; ttlMs: number }
  | { op: "hit"; key: string; limit: number; windowMs: number; cost: number }
  | { op: "acquire"; key: string; id: string; limit: number; ttlMs: number }
  | { op: "release"; key: string; id: string }
  | { op: "renew"; key: string; id: string; ttlMs: number }
  | { op: "move"; key: string; from: string; to: string; ttlMs: number }
  | { op: "slots"; key: string }
  | { op: "add"; key: string; amount: number; ttlMs: number }
  | { op: "total"; key: string }
  | { op: "admit"; plan: AdmitPlan }
  | { op: "settle"; plan: SettlePlan };

/** The result of each {@link StoreOp}, by `op`. */
export interface StoreOpResults {
  addOnce: boolean;
  hit: WindowState;
  acquire: boolean;
  release: null;
  renew: boolean;
  move: boolean;
  slots: number;
  add: number;
  total: number;
  admit: AdmitResult;
  settle: number | null;
}

type CellOf<T extends Cell["t"]> = Extract<Cell, { t: T }>;

function live<T extends Cell["t"]>(table: CellTable, key: string, t: T, at: number): CellOf<T> | undefined {
  const cell = table.get(key);
  return cell !== undefined && cell.t === t && cell.exp > at ? (cell as CellOf<T>) : undefined;
}

/** The window as seen at `at`: rolled over to the fixed window `at` falls in. Pure. */
function windowAt(
  cell: CellOf<"win"> | undefined,
  at: number,
  windowMs: number,
): { start: number; cur: number; prev: number } {
  const start = at - (at % windowMs);
  if (!cell) return { start, cur: 0, prev: 0 };
  if (cell.start === start) return { start, cur: cell.cur, prev: cell.prev };
  return { start, cur: 0, prev: start - cell.start === windowMs ? cell.cur : 0 };
}

/** `previous × overlap + current`: the previous fixed window weighted by how much of it the sliding one covers. */
function weighted(w: { start: number; cur: number; prev: number }, at: number, windowMs: number): number {
  return w.prev * Math.max(0, 1 - (at - w.start) / windowMs) + w.cur;
}

/** What is left of a window whose weighted count is `count`, and when one more request fits. */
function windowState(
  w: { start: number; cur: number; prev: number },
  at: number,
  limit: number,
  windowMs: number,
  allowed: boolean,
): WindowState {
  const remaining = Math.max(0, Math.floor(limit - weighted(w, at, windowMs)));
  return { allowed, remaining, resetMs: remaining > 0 ? 0 : waitFor(w, at - w.start, limit, windowMs) };
}

/** Milliseconds until one more request fits the window, as the previous window's weight decays. */
function waitFor(w: { cur: number; prev: number }, elapsed: number, limit: number, windowMs: number): number {
  const count = w.prev * Math.max(0, 1 - elapsed / windowMs) + w.cur;
  const excess = count + 1 - limit;
  if (excess <= 0) return 0;
  const leftInWindow = windowMs - elapsed;
  // Within this window only the previous window's share decays, at prev/windowMs per ms.
  if (w.prev > 0) {
    const t = (excess * windowMs) / w.prev;
    if (t <= leftInWindow) return Math.ceil(t);
  }
  // After the boundary the current window becomes the previous one and decays in turn.
  const over = w.cur + 1 - limit;
  if (over <= 0 || w.cur === 0) return Math.ceil(leftInWindow);
  return Math.ceil(leftInWindow + (over * windowMs) / w.cur);
}

function putWindow(
  table: CellTable,
  key: string,
  w: { start: number; cur: number; prev: number },
  windowMs: number,
) {
  table.set(key, { t: "win", start: w.start, cur: w.cur, prev: w.prev, exp: w.start + 2 * windowMs });
}

/** Unexpired slots of a set, expired ones dropped from the (mutable) map. */
function liveSlots(cell: CellOf<"slots"> | undefined, at: number): Map<string, number> {
  if (!cell) return new Map();
  for (const [id, deadline] of cell.held) if (deadline <= at) cell.held.delete(id);
  return cell.held;
}

function countSlots(cell: CellOf<"slots"> | undefined, at: number): number {
  if (!cell) return 0;
  let n = 0;
  for (const deadline of cell.held.values()) if (deadline > at) n++;
  return n;
}

function putSlots(table: CellTable, key: string, held: Map<string, number>, exp: number): void {
  if (held.size > 0) table.set(key, { t: "slots", held, exp });
  else table.delete(key);
}

/** {@link Store.addOnce} on a table. */
export function addOnce(table: CellTable, at: number, key: string, ttlMs: number): boolean {
  if (live(table, key, "once", at)) return false;
  table.set(key, { t: "once", exp: at + ttlMs });
  return true;
}

/** {@link Store.hit} on a table. */
export function hit(
  table: CellTable,
  at: number,
  key: string,
  limit: number,
  windowMs: number,
  cost: number,
): WindowState {
  const w = windowAt(live(table, key, "win", at), at, windowMs);
  const allowed = cost <= 0 || weighted(w, at, windowMs) + cost <= limit;
  if (allowed && cost > 0) {
    w.cur += cost;
    putWindow(table, key, w, windowMs);
  }
  return windowState(w, at, limit, windowMs, allowed);
}

/** {@link Store.acquire} on a table. */
export function acquire(
  table: CellTable,
  at: number,
  key: string,
  id: string,
  limit: number,
  ttlMs: number,
): boolean {
  const cell = live(table, key, "slots", at);
  const held = liveSlots(cell, at);
  if (limit > 0 && !held.has(id) && held.size >= limit) return false;
  held.set(id, at + ttlMs);
  putSlots(table, key, held, Math.max(cell?.exp ?? 0, at + ttlMs));
  return true;
}

/** {@link Store.release} on a table. */
export function release(table: CellTable, at: number, key: string, id: string): null {
  const cell = live(table, key, "slots", at);
  if (!cell?.held.has(id)) return null;
  const held = liveSlots(cell, at);
  held.delete(id);
  putSlots(table, key, held, cell.exp);
  return null;
}

/** {@link Store.renew} on a table. */
export function renew(table: CellTable, at: number, key: string, id: string, ttlMs: number): boolean {
  return move(table, at, key, id, id, ttlMs);
}

/** {@link Store.move} on a table. */
export function move(
  table: CellTable,
  at: number,
  key: string,
  from: string,
  to: string,
  ttlMs: number,
): boolean {
  const cell = live(table, key, "slots", at);
  const held = liveSlots(cell, at);
  if (!cell || !held.has(from)) return false;
  held.delete(from);
  held.set(to, at + ttlMs);
  putSlots(table, key, held, Math.max(cell.exp, at + ttlMs));
  return true;
}

/** {@link Store.slots} on a table. */
export function slots(table: CellTable, at: number, key: string): number {
  return countSlots(live(table, key, "slots", at), at);
}

/** {@link Store.add} on a table. */
export function add(table: CellTable, at: number, key: string, amount: number, ttlMs: number): number {
  const cell = live(table, key, "sum", at);
  const value = (cell?.value ?? 0) + amount;
  table.set(key, { t: "sum", value, exp: cell?.exp ?? at + ttlMs });
  return value;
}

/** {@link Store.total} on a table. */
export function total(table: CellTable, at: number, key: string): number {
  return live(table, key, "sum", at)?.value ?? 0;
}

/** {@link Store.admit} on a table: the limiter's one admission, defined here for every store. */
export function admit(table: CellTable, at: number, plan: AdmitPlan): AdmitResult {
  let totalState: AdmitResult["total"] = null;
  let totalOk = true;
  if (plan.total) {
    const cell = live(table, plan.total.key, "sum", at);
    totalState = { value: cell?.value ?? 0, resetMs: cell ? cell.exp - at : 0 };
    totalOk = totalState.value < plan.total.limit;
  }

  let w: { start: number; cur: number; prev: number } | null = null;
  let windowOk = true;
  if (plan.window) {
    w = windowAt(live(table, plan.window.key, "win", at), at, plan.window.windowMs);
    windowOk = weighted(w, at, plan.window.windowMs) + 1 <= plan.window.limit;
  }

  const sets = plan.slots.map((s) => live(table, s.key, "slots", at));
  const counts = sets.map((cell) => countSlots(cell, at));
  const slotsOk = plan.slots.every((s, i) => s.limit <= 0 || counts[i]! < s.limit);

  const refused = !totalOk ? "total" : !windowOk ? "window" : !slotsOk ? "slots" : null;
  const admitted = refused === null;
  if (admitted && !plan.peek) {
    if (plan.window && w) {
      w.cur += 1;
      putWindow(table, plan.window.key, w, plan.window.windowMs);
    }
    const deadline = at + plan.ttlMs;
    plan.slots.forEach((s, i) => {
      const cell = sets[i];
      const held = liveSlots(cell, at);
      held.set(plan.id, deadline);
      putSlots(table, s.key, held, Math.max(cell?.exp ?? 0, deadline));
      counts[i] = held.size;
    });
  }
  return {
    admitted,
    refused,
    window:
      plan.window && w
        ? windowState(w, at, plan.window.limit, plan.window.windowMs, admitted && !plan.peek)
        : null,
    total: totalState,
    slots: counts,
  };
}

/**
 * {@link Store.settle} on a table: the limiter's one settlement. The `once` gate is checked first, so a table
 * that refuses a new key (a full memory store) throws before anything changed.
 */
export function settle(table: CellTable, at: number, plan: SettlePlan): number | null {
  const charge = plan.add ?? null;
  const first = charge?.once ? addOnce(table, at, charge.once.key, charge.once.ttlMs) : true;
  for (const key of plan.release) release(table, at, key, plan.id);
  return charge && first ? add(table, at, charge.key, charge.amount, charge.ttlMs) : null;
}

/** The keys an operation reads or writes (what a Durable Object loads before running it). */
export function storeOpKeys(op: StoreOp): string[] {
  if (op.op === "settle") {
    const { plan } = op;
    const keys = [...plan.release];
    if (plan.add) keys.push(plan.add.key);
    if (plan.add?.once) keys.push(plan.add.once.key);
    return keys;
  }
  if (op.op !== "admit") return [op.key];
  const { plan } = op;
  const keys = plan.slots.map((s) => s.key);
  if (plan.window) keys.push(plan.window.key);
  if (plan.total) keys.push(plan.total.key);
  return keys;
}

/** Runs one {@link StoreOp} on a table at time `at`. */
export function runStoreOp<O extends StoreOp>(table: CellTable, at: number, op: O): StoreOpResults[O["op"]] {
  return dispatch(table, at, op) as StoreOpResults[O["op"]];
}

function dispatch(table: CellTable, at: number, op: StoreOp): StoreOpResults[StoreOp["op"]] {
  switch (op.op) {
    case "addOnce":
      return addOnce(table, at, op.key, op.ttlMs);
    case "hit":
      return hit(table, at, op.key, op.limit, op.windowMs, op.cost);
    case "acquire":
      return acquire(table, at, op.key, op.id, op.limit, op.ttlMs);
    case "release":
      return release(table, at, op.key, op.id);
    case "renew":
      return renew(table, at, op.key, op.id, op.ttlMs);
    case "move":
      return move(table, at, op.key, op.from, op.to, op.ttlMs);
    case "slots":
      return slots(table, at, op.key);
    case "add":
      return add(table, at, op.key, op.amount, op.ttlMs);
    case "total":
      return total(table, at, op.key);
    case "admit":
      return admit(table, at, op.plan);
    case "settle":
      return settle(table, at, op.plan);
  }
}

/**
 * A {@link Store} over a synchronous {@link CellTable}: every operation runs to completion before the next one
 * starts, so each is atomic. The memory store is this over a bounded `Map`.
 */
export function createCellStore(table: CellTable, now: () => number): Store {
  return {
    addOnce: async (key, ttlMs) => addOnce(table, now(), key, ttlMs),
    hit: async (key, limit, windowMs, cost) => hit(table, now(), key, limit, windowMs, cost),
    acquire: async (key, id, limit, ttlMs) => acquire(table, now(), key, id, limit, ttlMs),
    release: async (key, id) => {
      release(table, now(), key, id);
    },
    renew: async (key, id, ttlMs) => renew(table, now(), key, id, ttlMs),
    move: async (key, from, to, ttlMs) => move(table, now(), key, from, to, ttlMs),
    slots: async (key) => slots(table, now(), key),
    add: async (key, amount, ttlMs) => add(table, now(), key, amount, ttlMs),
    total: async (key) => total(table, now(), key),
    admit: async (plan) => admit(table, now(), plan),
    settle: async (plan) => settle(table, now(), plan),
  };
}
