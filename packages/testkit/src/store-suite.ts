import { isFalgateError, type LimitsOptions, type Logger, type Store } from "@falgate/core";
import {
  type CallOutcome,
  classifyTarget,
  createLimiter as createLimiterOf,
  type FalTarget,
  type Limiter,
  type LimiterContext,
} from "@falgate/core/binding";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";

/** `createLimiter` with the store given next to the options (in falgate, the instance's `store`). */
function createLimiter(
  options: (LimitsOptions & { store?: Store }) | undefined,
  context: LimiterContext = {},
) {
  if (options === undefined) return createLimiterOf(undefined, context);
  const { store, ...limits } = options;
  return createLimiterOf(limits, store ? { ...context, store } : context);
}

/** A store implementation under test: handles on one shared backing store. */
export interface StoreUnderTest {
  /** A new handle on the backing store, as another instance would hold (its own connection when it has one). */
  connect(): Store | Promise<Store>;
  /** Empties the backing store (between tests). */
  reset(): Promise<void>;
  close(): Promise<void>;
  /**
   * Stops and restarts the backing service, when the implementation has one to stop (Redis). Enables the outage
   * tests: fail open and closed as documented, nothing waits past `storeTimeout`, counting resumes.
   */
  outage?: { stop(): Promise<void>; start(): Promise<void> };
}

const silent: Logger = { warn: () => {}, error: () => {} };
const PARALLEL = 300;
/** Lifetime of entries the expiry tests watch, ms. */
const SHORT = 1_000;
/**
 * True while less than most of {@link SHORT} has passed since `started`. "Not expired yet" is only asserted then:
 * on a loaded machine a call can stall past a short lifetime, and that must not read as a store bug.
 */
const fresh = (started: number) => Date.now() - started < SHORT * 0.8;
const EXPIRY = { timeout: 5_000, interval: 50 };
const RUN = classifyTarget(new URL("https://fal.run/fal-ai/flux/dev"));
const SUBMIT = classifyTarget(new URL("https://queue.fal.run/fal-ai/flux/dev"));
const REALTIME = classifyTarget(new URL("https://fal.run/fal-ai/fast-sdxl/realtime"));
const poll = (rid: string, tail: string) =>
  classifyTarget(new URL(`https://queue.fal.run/fal-ai/flux/requests/${rid}${tail}`));

function answer(status: number, headers: Record<string, string> = {}, body?: string): CallOutcome {
  return { status, header: (name) => headers[name.toLowerCase()] ?? null, body };
}

/** Resolves what a promise settles to: its value, or the error code (or message) it rejected with. */
async function outcome<T>(promise: Promise<T>): Promise<T | string> {
  try {
    return await promise;
  } catch (error) {
    return isFalgateError(error) ? error.code : String(error);
  }
}

/**
 * The one test suite every {@link Store} passes: each primitive and its expiry, atomicity under hundreds of
 * parallel calls from several handles (never over-admitting), and the limiter on top of the store, with three
 * limiter instances sharing it as three falgate instances would. Times are real (Redis and Durable Objects run
 * their own clocks), so expiries are short and polled.
 * @example
 * describeStore("Redis", async () => ({ connect: () => createRedisStore(new Redis(url)), reset, close }));
 */
export function describeStore(name: string, setup: () => Promise<StoreUnderTest>): void {
  describe(`Store: ${name}`, () => {
    let under: StoreUnderTest;
    let a: Store;
    let b: Store;
    let c: Store;
    let keyspace = 0;
    /** A fresh key per use, so tests never see each other's state even without a reset. */
    const key = (label: string) => `suite:${keyspace}:${label}`;

    beforeAll(async () => {
      under = await setup();
      [a, b, c] = await Promise.all([under.connect(), under.connect(), under.connect()]);
    });
    beforeEach(async () => {
      keyspace++;
      await under.reset();
    });
    afterAll(async () => {
      await under?.close();
    });

    describe("primitives", () => {
      test("addOnce: true once across handles, until its ttl passes", async () => {
        const k = key("once");
        const started = Date.now();
        expect(await a.addOnce(k, SHORT)).toBe(true);
        const again = await b.addOnce(k, SHORT);
        if (fresh(started)) expect(again).toBe(false);
        expect(await a.addOnce(key("other"), SHORT)).toBe(true);
        await expect.poll(() => c.addOnce(k, 60_000), EXPIRY).toBe(true);
        expect(await a.addOnce(k, 60_000)).toBe(false);
      });

      test("hit: a burst of `limit`, then refusals with the time until one more fits; cost 0 only reads", async () => {
        const k = key("hit");
        for (let i = 0; i < 3; i++) {
          const state = await [a, b, c][i]!.hit(k, 3, 60_000, 1);
          expect(state).toMatchObject({ allowed: true, remaining: 2 - i });
        }
        const refused = await a.hit(k, 3, 60_000, 1);
        expect(refused.allowed).toBe(false);
        expect(refused.remaining).toBe(0);
        expect(refused.resetMs).toBeGreaterThan(0);
        expect(refused.resetMs).toBeLessThanOrEqual(120_000);
        expect(await b.hit(k, 3, 60_000, 0)).toMatchObject({ allowed: true, remaining: 0 });
        expect(await b.hit(k, 5, 60_000, 2)).toMatchObject({ allowed: true, remaining: 0 });
      });

      test("hit: a window frees up once it has slid past", async () => {
        const k = key("slide");
        expect((await a.hit(k, 2, 200, 1)).allowed).toBe(true);
        expect((await a.hit(k, 2, 200, 1)).allowed).toBe(true);
        await expect
          .poll(async () => (await b.hit(k, 2, 200, 1)).allowed, { timeout: 3_000, interval: 20 })
          .toBe(true);
      });

      test("slots: capped, released, renewed, moved, counted, and expired at their deadline", async () => {
        const k = key("slots");
        expect(await a.acquire(k, "1", 2, 60_000)).toBe(true);
        expect(await b.acquire(k, "2", 2, 60_000)).toBe(true);
        expect(await c.acquire(k, "3", 2, 60_000)).toBe(false);
        // Taking a slot one already holds is a renewal, not a second slot.
        expect(await c.acquire(k, "2", 2, 60_000)).toBe(true);
        expect(await a.slots(k)).toBe(2);
        await b.release(k, "1");
        await b.release(k, "1");
        expect(await a.slots(k)).toBe(1);
        expect(await a.move(k, "2", "job:x", 60_000)).toBe(true);
        expect(await a.move(k, "2", "job:y", 60_000)).toBe(false);
        expect(await a.slots(k)).toBe(1);
        expect(await c.acquire(k, "4", 2, 60_000)).toBe(true);
        expect(await c.acquire(k, "5", 2, 60_000)).toBe(false);
        await c.release(k, "job:x");
        const renewed = Date.now();
        expect(await a.renew(k, "4", SHORT)).toBe(true);
        expect(await a.renew(k, "gone", SHORT)).toBe(false);
        const held = await a.slots(k);
        if (fresh(renewed)) expect(held).toBe(1);
        await expect.poll(() => b.slots(k), EXPIRY).toBe(0);
        expect(await a.renew(k, "4", SHORT)).toBe(false);
        expect(await a.acquire(k, "unlimited", 0, 60_000)).toBe(true);
      });

      test("slots: an expired slot frees its place while others in the set live on", async () => {
        const k = key("mixed");
        const started = Date.now();
        expect(await a.acquire(k, "short", 2, SHORT)).toBe(true);
        expect(await b.acquire(k, "long", 2, 60_000)).toBe(true);
        const third = await c.acquire(k, "third", 2, 60_000);
        if (fresh(started)) expect(third).toBe(false);
        await expect.poll(() => c.acquire(k, "third", 2, 60_000), EXPIRY).toBe(true);
        expect(await a.slots(k)).toBe(2);
      });

      test("totals: add up (fractions too) across handles and are forgotten at the end of their period", async () => {
        const k = key("sum");
        expect(await a.total(k)).toBe(0);
        const started = Date.now();
        expect(await a.add(k, 2.5, SHORT)).toBe(2.5);
        // The ttl of a later add does not move the end of the period.
        const sum = await b.add(k, 0.25, SHORT * 60);
        const read = await c.total(k);
        // Stalled past the period: b's add may have opened a new one, so the rest cannot be judged.
        if (!fresh(started)) return;
        expect(sum).toBe(2.75);
        expect(read).toBe(2.75);
        await expect.poll(() => a.total(k), EXPIRY).toBe(0);
        expect(await b.add(k, 1, 60_000)).toBe(1);
      });
    });

    describe("admit", () => {
      const plan = (over: Partial<Parameters<Store["admit"]>[0]> = {}) => ({
        window: { key: key("w"), limit: 2, windowMs: 60_000 },
        total: { key: key("t"), limit: 10 },
        slots: [
          { key: key("p"), limit: 1 },
          { key: key("all"), limit: 5 },
        ],
        id: "call:1",
        ttlMs: 60_000,
        ...over,
      });

      test("admits and counts everything at once, reporting each state", async () => {
        const result = await a.admit(plan());
        expect(result).toEqual({
          admitted: true,
          refused: null,
          window: { allowed: true, remaining: 1, resetMs: 0 },
          total: { value: 0, resetMs: 0 },
          slots: [1, 1],
        });
        expect(await b.slots(key("p"))).toBe(1);
        expect(await b.slots(key("all"))).toBe(1);
        expect((await b.hit(key("w"), 2, 60_000, 0)).remaining).toBe(1);
      });

      test("a refusal changes nothing, and names the first check that failed: total, window, slots", async () => {
        await a.admit(plan());
        const full = await b.admit(plan({ id: "call:2" }));
        expect(full).toMatchObject({ admitted: false, refused: "slots", slots: [1, 1] });
        expect(full.window?.remaining).toBe(1); // not counted
        expect(await c.slots(key("all"))).toBe(1); // not taken in the set that had room
        await a.add(key("t"), 10, 60_000);
        const spent = await b.admit(plan({ id: "call:3", slots: [] }));
        expect(spent.refused).toBe("total");
        expect(spent.total?.value).toBe(10);
        expect(spent.total?.resetMs).toBeGreaterThan(0);
        expect(spent.total?.resetMs).toBeLessThanOrEqual(60_000);
        const both = await c.admit(
          plan({ id: "call:4", window: { key: key("w"), limit: 1, windowMs: 60_000 } }),
        );
        expect(both.refused).toBe("total");
        const windowFirst = await c.admit(
          plan({ id: "call:5", total: null, window: { key: key("w"), limit: 1, windowMs: 60_000 } }),
        );
        expect(windowFirst).toMatchObject({ admitted: false, refused: "window" });
        expect(windowFirst.window?.resetMs).toBeGreaterThan(0);
      });

      test("peek reports without counting or taking", async () => {
        await a.admit(plan());
        const peeked = await b.admit(plan({ id: "", peek: true, slots: [{ key: key("all"), limit: 5 }] }));
        expect(peeked).toMatchObject({ admitted: true, window: { remaining: 1 }, slots: [1] });
        expect(await c.slots(key("all"))).toBe(1);
        expect((await c.hit(key("w"), 2, 60_000, 0)).remaining).toBe(1);
      });

      test("admissions hold their slots until their deadline", async () => {
        const started = Date.now();
        expect((await a.admit(plan({ ttlMs: SHORT, window: null }))).admitted).toBe(true);
        const second = await b.admit(plan({ id: "call:2", window: null }));
        if (fresh(started)) expect(second.refused).toBe("slots");
        await expect
          .poll(async () => (await c.admit(plan({ id: "call:3", window: null }))).admitted, EXPIRY)
          .toBe(true);
      });
    });

    describe("settle", () => {
      test("gives back the slot `id` in every set listed, only that one; a slot already gone is no error", async () => {
        const [p, all, other] = [key("p"), key("all"), key("other")];
        for (const k of [p, all, other]) expect(await a.acquire(k, "call:1", 0, 60_000)).toBe(true);
        expect(await a.acquire(p, "call:2", 0, 60_000)).toBe(true);
        expect(await a.acquire(all, "call:2", 0, 60_000)).toBe(true);
        expect(await b.settle({ release: [p, all], id: "call:1" })).toBeNull();
        expect(await c.slots(p)).toBe(1);
        expect(await c.slots(all)).toBe(1);
        expect(await c.slots(other)).toBe(1); // not listed: kept
        expect(await c.move(p, "call:2", "call:3", 60_000)).toBe(true); // the other id: untouched
        // Again, with a set that never held it and a key never written: nothing to give back, no error.
        expect(await a.settle({ release: [p, all, key("never")], id: "call:1", add: null })).toBeNull();
        expect(await c.slots(p)).toBe(1);
        expect(await b.settle({ release: [p, all, other], id: "call:2" })).toBeNull();
        expect(await c.slots(all)).toBe(0);
        expect(await c.slots(p)).toBe(1); // call:3
        expect(await c.slots(other)).toBe(1); // call:1, never listed for it
        // The freed places are taken again.
        expect(await a.acquire(all, "call:4", 1, 60_000)).toBe(true);
      });

      test("adds to a total as `add` does, in the same call, and resolves the new total", async () => {
        const [s1, t] = [key("s1"), key("t")];
        expect(await a.acquire(s1, "call:1", 1, 60_000)).toBe(true);
        const started = Date.now();
        expect(
          await b.settle({ release: [s1], id: "call:1", add: { key: t, amount: 2.5, ttlMs: SHORT } }),
        ).toBe(2.5);
        expect(await c.slots(s1)).toBe(0);
        // The ttl of a later add does not move the end of the period; an empty release list is fine.
        const sum = await c.settle({ release: [], id: "", add: { key: t, amount: 0.25, ttlMs: SHORT * 60 } });
        const read = await a.total(t);
        const mixed = await a.add(t, 1, SHORT * 60);
        // Stalled past the period: a later add may have opened a new one, so the rest cannot be judged.
        if (!fresh(started)) return;
        expect(sum).toBe(2.75);
        expect(read).toBe(2.75);
        expect(mixed).toBe(3.75);
        await expect.poll(() => a.total(t), EXPIRY).toBe(0);
        expect(await b.settle({ release: [], id: "", add: { key: t, amount: 1, ttlMs: 60_000 } })).toBe(1);
        expect(await c.total(t)).toBe(1);
      });

      test("`once`: only the first settlement naming its key adds; slots are given back either way", async () => {
        const [s1, t, billed] = [key("s1"), key("t"), key("billed")];
        const charge = { key: t, amount: 7, ttlMs: 60_000, once: { key: billed, ttlMs: 60_000 } };
        expect(await a.acquire(s1, "job:1", 0, 60_000)).toBe(true);
        expect(await a.acquire(s1, "job:2", 0, 60_000)).toBe(true);
        expect(await b.settle({ release: [s1], id: "job:1", add: charge })).toBe(7);
        expect(await c.settle({ release: [s1], id: "job:2", add: charge })).toBeNull();
        expect(await a.settle({ release: [], id: "", add: charge })).toBeNull();
        expect(await a.slots(s1)).toBe(0);
        expect(await b.total(t)).toBe(7);
        // The once key is `addOnce`'s: remembered by the settlement, and one remembered by addOnce gates it.
        expect(await c.addOnce(billed, 60_000)).toBe(false);
        expect(await a.addOnce(key("seen"), 60_000)).toBe(true);
        const seen = { ...charge, once: { key: key("seen"), ttlMs: 60_000 } };
        expect(await b.settle({ release: [], id: "", add: seen })).toBeNull();
        expect(await c.total(t)).toBe(7);
        // Without `once`, every settlement adds.
        expect(await a.settle({ release: [], id: "", add: { ...charge, once: null } })).toBe(14);
      });

      test("`once` is forgotten after its ttl, and then adds again", async () => {
        const t = key("t");
        const charge = { key: t, amount: 1, ttlMs: 60_000, once: { key: key("billed"), ttlMs: SHORT } };
        const started = Date.now();
        expect(await a.settle({ release: [], id: "", add: charge })).toBe(1);
        const again = await b.settle({ release: [], id: "", add: charge });
        if (fresh(started)) expect(again).toBeNull();
        await expect.poll(() => c.settle({ release: [], id: "", add: charge }), EXPIRY).not.toBeNull();
        expect(await a.settle({ release: [], id: "", add: charge })).toBeNull();
      });

      test("release only, or nothing at all: resolves null and writes no total", async () => {
        const s1 = key("s1");
        expect(await a.acquire(s1, "call:1", 1, 60_000)).toBe(true);
        expect(await b.settle({ release: [s1], id: "call:1" })).toBeNull();
        expect(await c.settle({ release: [], id: "" })).toBeNull();
        expect(await c.slots(s1)).toBe(0);
        expect(await a.acquire(s1, "call:2", 1, 60_000)).toBe(true);
      });
    });

    describe(`atomicity: ${PARALLEL} parallel calls from three handles`, () => {
      const spread = <T>(n: number, call: (store: Store, i: number) => Promise<T>) =>
        Promise.all(Array.from({ length: n }, (_, i) => call([a, b, c][i % 3]!, i)));

      test("addOnce: exactly one true", async () => {
        const results = await spread(PARALLEL, (s) => s.addOnce(key("race"), 60_000));
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      test("hit: exactly `limit` allowed", async () => {
        const results = await spread(PARALLEL, (s) => s.hit(key("race"), 50, 60_000, 1));
        expect(results.filter((r) => r.allowed)).toHaveLength(50);
        expect((await a.hit(key("race"), 50, 60_000, 0)).remaining).toBe(0);
      });

      test("acquire: exactly `limit` slots", async () => {
        const results = await spread(PARALLEL, (s, i) => s.acquire(key("race"), `id-${i}`, 20, 60_000));
        expect(results.filter(Boolean)).toHaveLength(20);
        expect(await a.slots(key("race"))).toBe(20);
      });

      test("add: no increment lost", async () => {
        await spread(PARALLEL, (s) => s.add(key("race"), 0.5, 60_000));
        expect(await a.total(key("race"))).toBe(PARALLEL / 2);
      });

      test("settle: every slot given back, no increment lost, each `once` key adding once", async () => {
        await spread(PARALLEL, (s, i) => s.acquire(key("s"), `call:${i}`, 0, 60_000));
        expect(await a.slots(key("s"))).toBe(PARALLEL);
        const results = await spread(PARALLEL, (s, i) =>
          s.settle({
            release: [key("s")],
            id: `call:${i}`,
            add: {
              key: key("t"),
              amount: 0.5,
              ttlMs: 60_000,
              once: i % 3 === 0 ? { key: key(`job:${i % 30}`), ttlMs: 60_000 } : null,
            },
          }),
        );
        // 200 without `once`, and one for each of the 10 `once` keys.
        expect(results.filter((r) => r !== null)).toHaveLength(PARALLEL - PARALLEL / 3 + 10);
        expect(await a.total(key("t"))).toBe((PARALLEL - PARALLEL / 3 + 10) / 2);
        expect(await b.slots(key("s"))).toBe(0);
      });

      test("admit: exactly as many as the tightest limit, and the window counts only those", async () => {
        const results = await spread(PARALLEL, (s, i) =>
          s.admit({
            window: { key: key("w"), limit: 100, windowMs: 60_000 },
            total: null,
            slots: [{ key: key("s"), limit: 30 }],
            id: `call:${i}`,
            ttlMs: 60_000,
          }),
        );
        expect(results.filter((r) => r.admitted)).toHaveLength(30);
        expect((await a.hit(key("w"), 100, 60_000, 0)).remaining).toBe(70);
        expect(await b.slots(key("s"))).toBe(30);
      });
    });

    describe("the limiter on top, three instances sharing the store", () => {
      let prefix = 0;
      /**
       * Three limiters, as three falgate instances configured alike would be. Failing closed with a long timeout:
       * a slow store must show up as a refusal, never as an uncounted admission that looks like over-admission.
       */
      const limiters = (options: LimitsOptions): Limiter[] => {
        const keyPrefix = `suite:${keyspace}:${prefix++}:`;
        return [a, b, c].map(
          (store) =>
            createLimiter(
              { onStoreError: "closed", storeTimeout: 10_000, ...options, store, keyPrefix },
              { logger: silent },
            )!,
        );
      };
      const spread = (n: number, call: (limiter: Limiter, i: number) => Promise<unknown>, ls: Limiter[]) =>
        Promise.all(Array.from({ length: n }, (_, i) => outcome(call(ls[i % ls.length]!, i))));
      const admit = (limiter: Limiter, principal = "alice", target: FalTarget = RUN) =>
        limiter.admit({ principal, kind: "proxy", target });

      test(`rate: exactly the limit admitted out of ${PARALLEL}`, async () => {
        const ls = limiters({ rate: "50/min" });
        const results = await spread(PARALLEL, (l) => admit(l), ls);
        expect(results.filter((r) => typeof r === "object")).toHaveLength(50);
        expect(results.filter((r) => r === "rate_limited")).toHaveLength(PARALLEL - 50);
        expect((await ls[1]!.usage("alice")).rate).toMatchObject({ limit: 50, remaining: 0 });
        // Another principal is counted apart.
        expect(typeof (await outcome(admit(ls[2]!, "bob")))).toBe("object");
      });

      test("concurrency: exactly maxConcurrent in flight; settled slots are reused, never leaked", async () => {
        const ls = limiters({ maxConcurrent: 10, maxConcurrentTotal: 15 });
        const first = await spread(PARALLEL, (l) => admit(l), ls);
        const held = first.filter((r) => typeof r === "object") as Awaited<ReturnType<Limiter["admit"]>>[];
        expect(held).toHaveLength(10);
        expect(first.filter((r) => r === "concurrency_limited")).toHaveLength(PARALLEL - 10);
        const others = await spread(PARALLEL, (l, i) => admit(l, `p${i % 7}`), ls);
        expect(others.filter((r) => typeof r === "object")).toHaveLength(5);
        // Settled on every path: success, upstream error, no answer.
        await Promise.all(
          held.map((h, i) =>
            ls[i % 3]!.settle(h.reservation, i % 3 === 0 ? answer(200) : answer(i % 3 === 1 ? 502 : 0)),
          ),
        );
        expect((await ls[0]!.usage("alice")).concurrency).toEqual({ limit: 10, inFlight: 0 });
        const again = await spread(PARALLEL, (l) => admit(l), ls);
        expect(again.filter((r) => typeof r === "object")).toHaveLength(10);
      });

      test("a queue job holds its slot through status polls until COMPLETED; a cancelled one frees it", async () => {
        const [l1, l2, l3] = limiters({ maxConcurrent: 1, maxConcurrentTotal: 10 });
        const submitted = await admit(l1!, "alice", SUBMIT);
        await l1!.settle(submitted.reservation, answer(200, { "x-fal-request-id": "job-a" }));
        expect(await outcome(admit(l2!))).toBe("concurrency_limited");
        const pending = await admit(l2!, "alice", poll("job-a", "/status"));
        await l2!.settle(pending.reservation, answer(202));
        expect(await outcome(admit(l3!))).toBe("concurrency_limited");
        const done = await admit(l3!, "alice", poll("job-a", "/status"));
        await l3!.settle(done.reservation, answer(200));
        const next = await admit(l1!, "alice", SUBMIT);
        await l1!.settle(next.reservation, answer(200, {}, '{"status":"IN_QUEUE","request_id":"job-b"}'));
        expect(await outcome(admit(l2!))).toBe("concurrency_limited");
        const cancel = await admit(l2!, "alice", poll("job-b", "/cancel"));
        await l2!.settle(cancel.reservation, answer(202, {}, '{"status":"CANCELLATION_REQUESTED"}'));
        expect((await l3!.usage("alice")).concurrency).toEqual({ limit: 1, inFlight: 0 });
      });

      test("tunnels hold a slot in the same pool while open", async () => {
        const [l1, l2] = limiters({ maxConcurrent: 2 });
        const t1 = await l1!.admit({ principal: "alice", kind: "tunnel", target: REALTIME });
        const t2 = await l2!.admit({ principal: "alice", kind: "tunnel", target: REALTIME });
        expect(await outcome(admit(l1!))).toBe("concurrency_limited");
        await l2!.settle(t1.reservation);
        const run = await admit(l1!);
        await l1!.settle(run.reservation, answer(200));
        await l1!.settle(t2.reservation);
        expect((await l2!.usage("alice")).concurrency?.inFlight).toBe(0);
      });

      test("budget: spend recorded by any instance refuses every instance once spent", async () => {
        const ls = limiters({ budget: "10/day", endpoints: { "fal-ai/flux/*": { price: 0.5 } } });
        const runs = await spread(20, (l) => admit(l), ls);
        await Promise.all(
          runs.map((r, i) =>
            ls[i % 3]!.settle(
              (r as Awaited<ReturnType<Limiter["admit"]>>).reservation,
              answer(200, { "x-fal-billable-units": "1" }),
            ),
          ),
        );
        expect((await ls[0]!.usage("alice")).budget).toMatchObject({ spent: 10, remaining: 0 });
        const refused = await spread(PARALLEL, (l) => admit(l), ls);
        expect(refused.every((r) => r === "budget_exhausted")).toBe(true);
        expect(typeof (await outcome(admit(ls[1]!, "bob")))).toBe("object");
      });

      test("a queue result read twice, by two instances, is charged once", async () => {
        const [l1, l2] = limiters({ budget: "100/month" });
        const submitted = await admit(l1!, "alice", SUBMIT);
        await l1!.settle(submitted.reservation, answer(200, { "x-fal-request-id": "job-c" }));
        for (const l of [l1!, l2!, l1!]) {
          const result = await admit(l, "alice", poll("job-c", ""));
          await l.settle(result.reservation, answer(200, { "x-fal-billable-units": "7" }));
        }
        expect((await l2!.usage("alice")).budget?.spent).toBe(7);
      });

      test("slots of an instance that died expire (callTimeout), and others get them back", async () => {
        const [crashed, survivor] = limiters({ maxConcurrent: 1, callTimeout: SHORT });
        const started = Date.now();
        await admit(crashed!); // never settled
        const refused = await outcome(admit(survivor!));
        if (fresh(started)) expect(refused).toBe("concurrency_limited");
        await expect.poll(async () => typeof (await outcome(admit(survivor!))), EXPIRY).toBe("object");
      });
    });

    describe("outage", () => {
      const STORE_TIMEOUT = 300;
      let unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      beforeAll(() => {
        process.on("unhandledRejection", onUnhandled);
      });
      afterAll(() => {
        process.off("unhandledRejection", onUnhandled);
      });
      beforeEach(() => {
        unhandled = [];
      });

      /** Admits through each limiter while the store is down: every answer within the bound, none hanging. */
      async function duringOutage(ls: Limiter[], expected: (result: unknown) => void): Promise<void> {
        for (let round = 0; round < 5; round++) {
          const started = performance.now();
          const results = await Promise.all(
            ls.map((l, i) => outcome(l.admit({ principal: `p${i}`, kind: "proxy", target: RUN }))),
          );
          expect(performance.now() - started).toBeLessThan(STORE_TIMEOUT + 700);
          for (const result of results) expected(result);
        }
      }

      for (const mode of ["open", "closed"] as const) {
        test(`fail ${mode}: the store stops and restarts mid-run; nothing hangs, nothing crashes, counting resumes`, async (context) => {
          if (!under.outage) return context.skip();
          const keyPrefix = `outage:${mode}:${keyspace}:`;
          const ls = [a, b, c].map(
            (store) =>
              createLimiter(
                {
                  rate: "5/min",
                  maxConcurrent: 3,
                  store,
                  keyPrefix,
                  onStoreError: mode,
                  storeTimeout: STORE_TIMEOUT,
                },
                { logger: silent },
              )!,
          );
          const before = await Promise.all(
            ls.map((l) => l.admit({ principal: "alice", kind: "proxy", target: RUN })),
          );
          await under.outage.stop();
          try {
            await duringOutage(ls, (result) => {
              if (mode === "open")
                expect(result).toMatchObject({ reservation: { tracked: false }, headers: {} });
              else expect(result).toBe("limits_unavailable");
            });
            // Settling while the store is down neither throws nor hangs past the bound.
            const started = performance.now();
            await Promise.all(before.map((h, i) => ls[i]!.settle(h.reservation, answer(200))));
            expect(performance.now() - started).toBeLessThan(STORE_TIMEOUT + 700);
          } finally {
            await under.outage.start();
          }
          // Back: within a few seconds every instance counts again (Redis came back empty: a fresh window).
          await expect
            .poll(
              async () => {
                const r = await outcome(ls[0]!.admit({ principal: "carol", kind: "proxy", target: RUN }));
                return (
                  typeof r === "object" &&
                  r !== null &&
                  (r as { reservation: { tracked: boolean } }).reservation.tracked
                );
              },
              { timeout: 10_000, interval: 200 },
            )
            .toBe(true);
          const results = await Promise.all(
            Array.from({ length: 30 }, (_, i) =>
              outcome(ls[i % 3]!.admit({ principal: "dave", kind: "proxy", target: RUN })),
            ),
          );
          expect(results.filter((r) => typeof r === "object")).toHaveLength(3);
          expect(results.filter((r) => r === "concurrency_limited")).toHaveLength(27);
          expect(unhandled).toEqual([]);
        }, 30_000);
      }
    });
  });
}
