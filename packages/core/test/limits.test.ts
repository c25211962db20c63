import { describe, expect, test, vi } from "vitest";
import {
  type CallOutcome,
  classifyTarget,
  createLimiter as createLimiterOf,
  type FalTarget,
  type Limiter,
  type LimiterContext,
} from "../src/binding.js";
import {
  clientKey,
  createMemoryStore,
  type FalgateError,
  isFalgateError,
  LIMIT_RESPONSE_HEADERS,
  type LimitsOptions,
  type Logger,
  type Store,
} from "../src/index.js";

/** `createLimiter` with the store given next to the options (in falgate, the instance's `store`). */
function createLimiter(
  options: (LimitsOptions & { store?: Store }) | undefined,
  context: LimiterContext = {},
) {
  if (options === undefined) return createLimiterOf(undefined, context);
  const { store, ...limits } = options;
  return createLimiterOf(limits, store ? { ...context, store } : context);
}

const target = (url: string): FalTarget => classifyTarget(new URL(url));
const RUN = target("https://fal.run/fal-ai/flux/dev");
const VIDEO = target("https://fal.run/fal-ai/kling-video/v2/pro");
const SUBMIT = target("https://queue.fal.run/fal-ai/kling-video/v2/pro");
const poll = (rid: string, tail = "status") =>
  target(`https://queue.fal.run/fal-ai/kling-video/requests/${rid}${tail ? `/${tail}` : ""}`);
const STORAGE = target("https://rest.fal.ai/storage/upload/initiate");

const silent: Logger = { warn: () => {}, error: () => {} };

function answer(status: number, headers: Record<string, string> = {}, body?: string): CallOutcome {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { status, header: (name) => lower[name.toLowerCase()] ?? null, body };
}

/** A limiter on a memory store with a clock the test moves. */
function setup(options: LimitsOptions & { store?: Store }, start = Date.UTC(2026, 11, 3, 10, 0, 0)) {
  const clock = { t: start };
  const now = () => clock.t;
  const store = options.store ?? createMemoryStore({ now });
  const limiter = createLimiter({ ...options, store }, { now, logger: silent })!;
  return { limiter, store, clock };
}

async function refusal(promise: Promise<unknown>): Promise<FalgateError> {
  try {
    await promise;
  } catch (error) {
    if (isFalgateError(error)) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

const admitRun = (limiter: Limiter, principal = "alice", t: FalTarget = RUN) =>
  limiter.admit({ principal, kind: "proxy", target: t });

describe("options", () => {
  test("nothing configured: only token mints are limited (60/min), and calls need no admission", () => {
    for (const options of [
      undefined,
      {},
      { rate: false as const, endpoints: { "fal-ai/flux/*": { price: 3 } } },
    ]) {
      expect(createLimiter(options)?.limitsCalls).toBe(false);
    }
    expect(createLimiter({ tokens: { rate: false } })).toBeNull();
    expect(createLimiter({ rate: "1/s" })?.limitsCalls).toBe(true);
  });

  test.each([
    [{ rate: "60/minute" }, /limits\.rate.*60\/min/],
    [{ rate: "0/min" }, /limits\.rate/],
    [{ rate: { limit: 1.5, window: 1000 } }, /limits\.rate\.limit/],
    [{ rate: { limit: 5, window: 0 } }, /limits\.rate\.window/],
    [{ tokens: { rate: "x" } }, /limits\.tokens\.rate/],
    [{ maxConcurrent: -1 }, /limits\.maxConcurrent/],
    [{ maxConcurrentTotal: 2.5 }, /limits\.maxConcurrentTotal/],
    [{ budget: "100/week" }, /limits\.budget/],
    [{ budget: { units: 0, period: "day" } }, /limits\.budget\.units/],
    [{ budget: { units: 5, period: "year" } }, /limits\.budget\.period/],
    [{ budget: { units: 5, period: "day", timeZone: "Mars/Olympus" } }, /limits\.budget\.timeZone/],
    [{ budget: { units: 5, period: "day", mode: "sliding" } }, /limits\.budget\.mode/],
    [{ rate: "1/s", endpoints: { "fal-ai": { rate: "1/s" } } }, /limits\.endpoints/],
    [{ rate: "1/s", endpoints: { "fal-ai/x": { price: -1 } } }, /limits\.endpoints\["fal-ai\/x"\]\.price/],
    [{ rate: "1/s", onStoreError: "maybe" }, /limits\.onStoreError/],
    [{ rate: "1/s", storeTimeout: 0 }, /limits\.storeTimeout/],
    [{ rate: "1/s", store: {} }, /`store`.*addOnce/],
    [{ rate: "1/s", queueTimeout: -5 }, /limits\.queueTimeout/],
  ])("%j is refused with a TypeError naming the option", (options, message) => {
    expect(() => createLimiter(options as LimitsOptions)).toThrow(TypeError);
    expect(() => createLimiter(options as LimitsOptions)).toThrow(message);
  });

  test("the CORS list names every header a limit adds", () => {
    expect(LIMIT_RESPONSE_HEADERS).toEqual(["ratelimit", "ratelimit-policy", "retry-after"]);
  });
});

describe("rate", () => {
  test("a burst of `limit`, then 429 rate_limited with Retry-After and the draft's headers", async () => {
    const { limiter, clock } = setup({ rate: "3/min" });
    const first = await admitRun(limiter);
    expect(first.headers).toEqual({ "ratelimit-policy": '"rate";q=3;w=60', ratelimit: '"rate";r=2' });
    await admitRun(limiter);
    const third = await admitRun(limiter);
    expect(third.headers.ratelimit).toMatch(/^"rate";r=0;t=\d+$/);
    const refused = await refusal(admitRun(limiter));
    expect(refused.code).toBe("rate_limited");
    expect(refused.status).toBe(429);
    expect(refused.message).toMatch(/at most 3 requests per minute/);
    const retry = Number(refused.headers["retry-after"]);
    expect(retry).toBeGreaterThan(0);
    expect(refused.headers["ratelimit-policy"]).toBe('"rate";q=3;w=60');
    expect(refused.headers.ratelimit).toBe(`"rate";r=0;t=${retry}`);
    // Other principals have their own window.
    await admitRun(limiter, "bob");
    clock.t += retry * 1000;
    await admitRun(limiter);
  });

  test("sliding window: a full previous window still weighs in right after the boundary", async () => {
    const { limiter, clock } = setup({ rate: { limit: 10, window: 1000 } }, 1_000_000);
    for (let i = 0; i < 10; i++) await admitRun(limiter);
    clock.t += 1000; // next fixed window, previous one fully weighted
    expect((await refusal(admitRun(limiter))).code).toBe("rate_limited");
    clock.t += 500; // half of it has slid out: 5 free
    for (let i = 0; i < 5; i++) await admitRun(limiter);
    expect((await refusal(admitRun(limiter))).code).toBe("rate_limited");
  });

  test("endpoint overrides count in their own window; the most specific pattern wins, field by field", async () => {
    const { limiter } = setup({
      rate: "5/min",
      endpoints: {
        "fal-ai/kling-video/*": { rate: "1/min", price: 2 },
        "fal-ai/kling-video/v2/pro": { price: 10 },
        "fal-ai/flux/dev": { rate: false },
      },
    });
    const video = await admitRun(limiter, "alice", VIDEO);
    expect(video.headers["ratelimit-policy"]).toBe('"fal-ai/kling-video/*";q=1;w=60');
    const refused = await refusal(admitRun(limiter, "alice", VIDEO));
    expect(refused.message).toMatch(/requests to fal-ai\/kling-video\/\*/);
    // flux/dev is exempt; other calls still have the default window, untouched by the video call.
    for (let i = 0; i < 10; i++) expect((await admitRun(limiter, "alice", RUN)).headers).toEqual({});
    const upload = await admitRun(limiter, "alice", STORAGE);
    expect(upload.headers.ratelimit).toBe('"rate";r=4');
  });

  test("token mints and tunnel opens have their own windows, defaulting to `rate`", async () => {
    const { limiter } = setup({ rate: "1/min", tunnels: { rate: false } });
    await admitRun(limiter);
    const token = await limiter.admit({ principal: "alice", kind: "token", target: null });
    expect(token.headers["ratelimit-policy"]).toBe('"tokens";q=1;w=60');
    expect(
      (await refusal(limiter.admit({ principal: "alice", kind: "token", target: null }))).message,
    ).toMatch(/token requests/);
    const realtime = target("https://fal.run/fal-ai/fast-sdxl/realtime");
    for (let i = 0; i < 3; i++) await limiter.admit({ principal: "alice", kind: "tunnel", target: realtime });
  });

  test("queue polls are never counted and cost no store call", async () => {
    const store = spyStore(createMemoryStore());
    const { limiter } = setup({ rate: "1/min", store });
    await admitRun(limiter);
    const calls = store.calls.length;
    for (let i = 0; i < 20; i++) {
      const polled = await admitRun(limiter, "alice", poll("r1"));
      expect(polled.headers).toEqual({});
    }
    expect(store.calls.length).toBe(calls);
  });

  test("a kind of call nothing applies to costs no store call", async () => {
    const store = spyStore(createMemoryStore());
    const { limiter } = setup({ tokens: { rate: "1/min" }, store });
    await admitRun(limiter);
    await admitRun(limiter, "alice", STORAGE);
    expect(store.calls).toEqual([]);
    await limiter.admit({ principal: "alice", kind: "token", target: null });
    expect(store.calls).toEqual(["admit"]);
  });
});

describe("concurrency", () => {
  test("maxConcurrent per principal: the slot is held while the call runs and freed on every ending", async () => {
    const { limiter } = setup({ maxConcurrent: 2 });
    const a = await admitRun(limiter);
    expect(a.headers).toEqual({
      "ratelimit-policy": '"concurrency";q=2;qu="concurrent-requests"',
      ratelimit: '"concurrency";r=1',
    });
    const b = await admitRun(limiter);
    const refused = await refusal(admitRun(limiter));
    expect(refused.code).toBe("concurrency_limited");
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.headers.ratelimit).toBe('"concurrency";r=0');
    await admitRun(limiter, "bob");
    // Upstream error, client abort (no answer), success: each frees its slot, and only once.
    await limiter.settle(a.reservation, answer(502));
    await limiter.settle(a.reservation, answer(200));
    const c = await admitRun(limiter);
    await refusal(admitRun(limiter));
    await limiter.settle(b.reservation);
    await limiter.settle(c.reservation, answer(200));
    expect((await limiter.usage("alice")).concurrency).toEqual({ limit: 2, inFlight: 0 });
  });

  test("maxConcurrentTotal caps all principals together and is only named when it refuses", async () => {
    const { limiter } = setup({ maxConcurrent: 2, maxConcurrentTotal: 3 });
    await admitRun(limiter, "a");
    await admitRun(limiter, "b");
    const c = await admitRun(limiter, "c");
    expect(c.headers["ratelimit-policy"]).not.toMatch(/total/);
    const refused = await refusal(admitRun(limiter, "d"));
    expect(refused.code).toBe("concurrency_limited");
    expect(refused.message).toMatch(/at capacity/);
    expect(refused.headers["ratelimit-policy"]).toContain('"concurrency-total";q=3;qu="concurrent-requests"');
    await limiter.settle(c.reservation, answer(200));
    await admitRun(limiter, "d");
  });

  test("an endpoint's maxConcurrent is its own pool", async () => {
    const { limiter } = setup({
      maxConcurrent: 1,
      endpoints: { "fal-ai/kling-video/*": { maxConcurrent: 2 } },
    });
    await admitRun(limiter, "alice", VIDEO);
    await admitRun(limiter, "alice", VIDEO);
    expect((await refusal(admitRun(limiter, "alice", VIDEO))).message).toMatch(/for fal-ai\/kling-video\/\*/);
    await admitRun(limiter, "alice", RUN);
    await refusal(admitRun(limiter, "alice", RUN));
  });

  test("a queue submit's slot follows the job until its status shows COMPLETED", async () => {
    const { limiter } = setup({ maxConcurrent: 1, maxConcurrentTotal: 5 });
    const submit = await admitRun(limiter, "alice", SUBMIT);
    await limiter.settle(submit.reservation, answer(200, { "x-fal-request-id": "job-1" }));
    await refusal(admitRun(limiter));
    // Pending polls keep it; another principal's answers do not free alice's slot.
    const pending = await admitRun(limiter, "alice", poll("job-1"));
    await limiter.settle(pending.reservation, answer(202));
    await refusal(admitRun(limiter));
    const done = await admitRun(limiter, "alice", poll("job-1"));
    await limiter.settle(done.reservation, answer(200));
    const next = await admitRun(limiter);
    await limiter.settle(next.reservation, answer(200));
  });

  test("a result, a cancel, or the queue timeout also end a job; a 404 does not", async () => {
    const { limiter, clock } = setup({ maxConcurrent: 1, queueTimeout: 60_000 });
    const follow = async (rid: string) => {
      const s = await admitRun(limiter, "alice", SUBMIT);
      // No x-fal-request-id: the request id comes from the submit's body.
      await limiter.settle(s.reservation, answer(200, {}, `{"status":"IN_QUEUE","request_id":"${rid}"}`));
      await refusal(admitRun(limiter));
    };
    const end = async (t: FalTarget, outcome: CallOutcome) => {
      const polled = await admitRun(limiter, "alice", t);
      await limiter.settle(polled.reservation, outcome);
    };
    await follow("r1");
    await end(poll("r1", ""), answer(200));
    await follow("r2");
    await end(poll("r2", "cancel"), answer(404, {}, '{"status":"NOT_FOUND"}'));
    await refusal(admitRun(limiter));
    await end(poll("r2", "cancel"), answer(202, {}, '{"status":"CANCELLATION_REQUESTED"}'));
    await follow("r3");
    await end(poll("r3", "cancel"), answer(400));
    await follow("r4");
    clock.t += 60_000;
    const after = await admitRun(limiter);
    await limiter.settle(after.reservation, answer(200));
    // endJob frees a job from outside the proxy (a webhook handler).
    await follow("r5");
    await limiter.endJob("alice", "r5");
    await admitRun(limiter);
  });

  test("a failed submit frees its slot at once", async () => {
    const { limiter } = setup({ maxConcurrent: 1 });
    const s = await admitRun(limiter, "alice", SUBMIT);
    await limiter.settle(s.reservation, answer(422, { "x-fal-request-id": "bad" }));
    await admitRun(limiter);
  });

  test("slots of a vanished instance expire after callTimeout", async () => {
    const { limiter, store, clock } = setup({ maxConcurrent: 1, callTimeout: 30_000 });
    await admitRun(limiter); // never settled: the instance "crashed"
    const restarted = createLimiter(
      { maxConcurrent: 1, callTimeout: 30_000, store },
      { now: () => clock.t, logger: silent },
    )!;
    await refusal(admitRun(restarted));
    clock.t += 30_000;
    await admitRun(restarted);
  });

  test("a tunnel holds a slot until settled", async () => {
    const { limiter } = setup({ maxConcurrent: 1 });
    const realtime = target("https://fal.run/fal-ai/fast-sdxl/realtime");
    const tunnel = await limiter.admit({ principal: "alice", kind: "tunnel", target: realtime });
    await refusal(admitRun(limiter));
    await limiter.settle(tunnel.reservation);
    await admitRun(limiter);
  });
});

describe("budget", () => {
  test("spend from x-fal-billable-units × price; refused once spent, until the next UTC day", async () => {
    const { limiter, clock } = setup({
      budget: "10/day",
      endpoints: { "fal-ai/kling-video/*": { price: 3 } },
    });
    const run = await admitRun(limiter);
    expect(run.headers["ratelimit-policy"]).toBe('"budget";q=10;qu="budget-units";w=86400');
    expect(run.headers.ratelimit).toBe('"budget";r=10;t=50400');
    await limiter.settle(run.reservation, answer(200, { "x-fal-billable-units": "4" }));
    const video = await admitRun(limiter, "alice", VIDEO);
    await limiter.settle(video.reservation, answer(200, { "x-fal-billable-units": "2" }));
    const usage = await limiter.usage("alice");
    expect(usage.budget).toEqual({
      limit: 10,
      spent: 10,
      remaining: 0,
      period: "day",
      mode: "calendar",
      resetsAt: Date.UTC(2026, 11, 4),
    });
    const refused = await refusal(admitRun(limiter));
    expect(refused.code).toBe("budget_exhausted");
    expect(refused.headers["retry-after"]).toBe("50400");
    expect(refused.message).toMatch(/10 of 10 units this day\. It resets in 14 h/);
    await refusal(limiter.admit({ principal: "alice", kind: "token", target: null }));
    await admitRun(limiter, "bob");
    clock.t = Date.UTC(2026, 11, 4, 0, 0, 1);
    await admitRun(limiter);
  });

  test("a queue job is charged once at its endpoint's price, however often its result is read", async () => {
    const { limiter } = setup({
      budget: "100/month",
      endpoints: { "fal-ai/kling-video/*": { price: 2 }, "fal-ai/kling-video/v2/pro": { price: 10 } },
    });
    const s = await admitRun(limiter, "alice", SUBMIT);
    await limiter.settle(s.reservation, answer(200, { "x-fal-request-id": "j1" }));
    for (let i = 0; i < 3; i++) {
      const result = await admitRun(limiter, "alice", poll("j1", ""));
      await limiter.settle(result.reservation, answer(200, { "x-fal-billable-units": "1.5" }));
    }
    expect((await limiter.usage("alice")).budget?.spent).toBe(15);
  });

  test("a call settles in one store call: its slots given back and its spend recorded together", async () => {
    const store = spyStore(createMemoryStore());
    const spends: unknown[] = [];
    const limiter = createLimiter(
      { rate: "10/min", maxConcurrent: 2, maxConcurrentTotal: 5, budget: "100/day", store },
      { logger: silent, onSpend: (spend) => spends.push(spend) },
    )!;
    const run = await admitRun(limiter);
    await limiter.settle(run.reservation, answer(200, { "x-fal-billable-units": "3" }));
    expect(store.calls).toEqual(["admit", "settle"]);
    expect(spends).toEqual([{ principal: "alice", appId: "fal-ai/flux", amount: 3 }]);
    const usage = await limiter.usage("alice");
    expect(usage.concurrency).toEqual({ limit: 2, inFlight: 0 });
    expect(usage.budget?.spent).toBe(3);
    expect(await store.slots("falgate:slots-total")).toBe(0);
    // Nothing billed: the slots alone, still one call, and no spend reported.
    store.calls.length = 0;
    const free = await admitRun(limiter);
    await limiter.settle(free.reservation, answer(500));
    expect(store.calls).toEqual(["admit", "settle"]);
    expect(spends).toHaveLength(1);
  });

  test("a queue result read again is not reported as spend again", async () => {
    const spends: unknown[] = [];
    const store = createMemoryStore();
    const limiter = createLimiter(
      { maxConcurrent: 1, budget: "100/day", store },
      { logger: silent, onSpend: (spend) => spends.push(spend) },
    )!;
    const s = await admitRun(limiter, "alice", SUBMIT);
    await limiter.settle(s.reservation, answer(200, { "x-fal-request-id": "j2" }));
    expect((await limiter.usage("alice")).concurrency?.inFlight).toBe(1);
    for (let i = 0; i < 2; i++) {
      const result = await admitRun(limiter, "alice", poll("j2", ""));
      await limiter.settle(result.reservation, answer(200, { "x-fal-billable-units": "2" }));
    }
    expect(spends).toEqual([{ principal: "alice", appId: "fal-ai/kling-video", amount: 2 }]);
    expect(await limiter.usage("alice")).toMatchObject({
      concurrency: { inFlight: 0 },
      budget: { spent: 2 },
    });
  });

  test("rolling periods start with the first spend", async () => {
    const { limiter, clock } = setup({ budget: { units: 5, period: "day", mode: "rolling" } });
    expect((await limiter.usage("alice")).budget?.resetsAt).toBeNull();
    const run = await admitRun(limiter);
    await limiter.settle(run.reservation, answer(200, { "x-fal-billable-units": "5" }));
    const start = clock.t;
    expect((await limiter.usage("alice")).budget?.resetsAt).toBe(start + 86_400_000);
    clock.t += 86_399_000;
    await refusal(admitRun(limiter));
    clock.t += 1_000;
    await admitRun(limiter);
  });

  test("calendar periods follow the configured time zone", async () => {
    // 10:00 UTC on 3 Dec 2026 is 05:00 in New York (EST, UTC-5): the day ends at 05:00 UTC on 4 Dec.
    const { limiter } = setup({ budget: { units: 5, period: "day", timeZone: "America/New_York" } });
    expect((await limiter.usage("alice")).budget?.resetsAt).toBe(Date.UTC(2026, 11, 4, 5));
    const monthly = setup({ budget: { units: 5, period: "month", timeZone: "Asia/Tokyo" } });
    expect((await monthly.limiter.usage("alice")).budget?.resetsAt).toBe(Date.UTC(2026, 11, 31, 15));
  });
});

describe("store failures", () => {
  const failing = (): Store => {
    const fail = () => Promise.reject(new Error("store down"));
    return {
      addOnce: fail,
      hit: fail,
      acquire: fail,
      release: fail,
      renew: fail,
      move: fail,
      slots: fail,
      add: fail,
      total: fail,
      admit: fail,
      settle: fail,
    };
  };

  test('"open" admits uncounted and logs (at most once per 10 s); settle never rejects', async () => {
    const warn = vi.fn();
    const limiter = createLimiter(
      { rate: "1/min", maxConcurrent: 1, budget: "1/day", store: failing() },
      { logger: { warn, error: () => {} } },
    )!;
    for (let i = 0; i < 5; i++) {
      const admitted = await admitRun(limiter);
      expect(admitted.reservation.tracked).toBe(false);
      expect(admitted.headers).toEqual({});
      await limiter.settle(admitted.reservation, answer(200, { "x-fal-billable-units": "3" }));
    }
    expect(warn.mock.calls.map(([message]) => message)).toEqual([
      "limits store failed during admit",
      "limits store failed during settle",
    ]);
  });

  test('"closed" refuses with 503 limits_unavailable and Retry-After; usage too', async () => {
    const limiter = createLimiter(
      { rate: "1/min", store: failing(), onStoreError: "closed" },
      { logger: silent },
    )!;
    const refused = await refusal(admitRun(limiter));
    expect(refused.code).toBe("limits_unavailable");
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("2");
    expect((await refusal(limiter.usage("alice"))).code).toBe("limits_unavailable");
  });

  test("a store slower than storeTimeout: no wait past it, then skipped for a moment, and late slots given back", async () => {
    const memory = createMemoryStore();
    let stall = true;
    const late: Array<() => void> = [];
    const slow: Store = {
      ...memory,
      admit: (plan) =>
        stall ? new Promise((resolve) => late.push(() => resolve(memory.admit(plan)))) : memory.admit(plan),
    };
    const limiter = createLimiter(
      { maxConcurrent: 1, store: slow, storeTimeout: 50, onStoreError: "closed" },
      { logger: silent },
    )!;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      expect((await refusal(admitRun(limiter))).code).toBe("limits_unavailable");
      expect(performance.now() - started).toBeLessThan(500);
    }
    // Three failures in a row: the store is skipped, refusals are immediate.
    const started = performance.now();
    await refusal(admitRun(limiter));
    expect(performance.now() - started).toBeLessThan(20);
    expect(late).toHaveLength(3);
    // The stalled admissions complete late: each slot they took is given back.
    for (const resume of late) resume();
    stall = false;
    await vi.waitFor(async () => expect(await memory.slots("falgate:slots::alice")).toBe(0));
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    const admitted = await admitRun(limiter);
    expect(admitted.reservation.tracked).toBe(true);
  });

  test("a client that leaves stops the wait at once", async () => {
    const hanging: Store = { ...createMemoryStore(), admit: () => new Promise(() => {}) };
    const limiter = createLimiter(
      { rate: "1/min", store: hanging, storeTimeout: 10_000 },
      { logger: silent },
    )!;
    const controller = new AbortController();
    const pending = limiter.admit({ principal: "a", kind: "proxy", target: RUN, signal: controller.signal });
    controller.abort(new Error("client gone"));
    await expect(pending).rejects.toThrow("client gone");
  });
});

describe("usage", () => {
  test("one read returns remaining requests, slots in flight and spend", async () => {
    const store = spyStore(createMemoryStore());
    const { limiter } = setup({ rate: "10/min", maxConcurrent: 3, budget: "50/month", store });
    await admitRun(limiter);
    store.calls.length = 0;
    const usage = await limiter.usage("alice");
    expect(store.calls).toEqual(["admit"]);
    expect(usage).toEqual({
      principal: "alice",
      rate: { policy: "rate", limit: 10, window: 60_000, remaining: 9, resetMs: 0 },
      concurrency: { limit: 3, inFlight: 1 },
      budget: {
        limit: 50,
        spent: 0,
        remaining: 50,
        period: "month",
        mode: "calendar",
        resetsAt: Date.UTC(2027, 0, 1),
      },
    });
    // Reading changes nothing.
    expect((await limiter.usage("alice")).rate?.remaining).toBe(9);
  });
});

describe("clientKey", () => {
  test.each([
    ["203.0.113.7", "ip:203.0.113.7"],
    ["::ffff:203.0.113.7", "ip:203.0.113.7"],
    ["::ffff:cb00:7107", "ip:203.0.113.7"],
    ["2001:db8:1:2:aaaa::1", "ip:2001:db8:1:2::/64"],
    ["2001:DB8:1:2:bbbb:cccc:dddd:eeee", "ip:2001:db8:1:2::/64"],
    ["[2001:db8::1]", "ip:2001:db8:0:0::/64"],
    ["fe80::1%eth0", "ip:fe80:0:0:0::/64"],
    ["::1", "ip:0:0:0:0::/64"],
    ["unknown", "ip:unknown"],
  ])("%s → %s", (ip, key) => {
    expect(clientKey(ip)).toBe(key);
  });
});

/** A store that records which primitives were called. */
function spyStore(store: Store): Store & { calls: string[] } {
  const calls: string[] = [];
  const spied = { calls } as Store & { calls: string[] };
  for (const [name, fn] of Object.entries(store) as [keyof Store, (...args: unknown[]) => unknown][]) {
    (spied as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      calls.push(name);
      return fn(...args);
    };
  }
  return spied;
}
