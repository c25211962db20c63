import { FalgateError } from "../errors.js";
import { consoleLogger } from "../logger.js";
import type { FalTarget } from "../policy/classify.js";
import { createMemoryStore, isLocalStore } from "../store/memory.js";
import type { AdmitPlan, AdmitResult, SettlePlan, Store } from "../store/types.js";
import type { Logger } from "../types.js";
import { SHARED_CLIENT_KEY } from "./client-key.js";
import { type PolicyState, rateLimitHeaders, seconds } from "./headers.js";
import type { BudgetPeriod, LimitsOptions, Rate, ResolvedLimits } from "./options.js";
import { limitsCalls, resolveLimits } from "./options.js";
import { type BudgetWindow, budgetWindows } from "./periods.js";

/** What is being admitted: a proxied fal call, a token mint (token route), or a realtime tunnel open. */
export type LimitKind = "proxy" | "token" | "tunnel";

/** What {@link Limiter.admit} needs to know about a call. */
export interface AdmitRequest {
  /** The principal id: the `authorize` hook's `id`, or `clientKey(ip)` for anonymous callers. */
  principal: string;
  kind: LimitKind;
  /** The proxied call's `classifyTarget(url)`, the tunnel's realtime target, or `null` (token route). */
  target: FalTarget | null;
  /** The client's abort signal: admission stops waiting on the store when the client is gone. */
  signal?: AbortSignal | null;
}

/** What an admission holds until it is settled (opaque: hand it back to {@link Limiter.settle}). */
export interface Reservation {
  readonly principal: string;
  /** `false` when the store failed and the call was let through uncounted (`onStoreError: "open"`). */
  readonly tracked: boolean;
}

/** An admitted call: headers for the answer, and the reservation to settle when the call is over. */
export interface Admission {
  /** `ratelimit-policy` and `ratelimit` (lower-case names), to add to the answer; empty when nothing is counted. */
  readonly headers: Readonly<Record<string, string>>;
  readonly reservation: Reservation;
}

/** How a call ended, as {@link Limiter.settle} needs it. */
export interface CallOutcome {
  /** HTTP status of fal's answer; `0` when there was none (unreachable, timed out, client gone before it). */
  status: number;
  /** A header of fal's answer (`x-fal-request-id`, `x-fal-billable-units`), or `null`. */
  header(name: string): string | null;
  /**
   * The first bytes (up to 4 KiB) of fal's JSON answer, when the binding captured them. Read only for a queue
   * submit answered without `x-fal-request-id` (its `request_id`) and for a cancel (its `status`).
   */
  body?: string | null;
}

/** A principal's counters, for the app and the usage route. */
export interface Usage {
  principal: string;
  /** The rate window of the call kind asked about (fal calls unless a target is given), or `null`. */
  rate: { policy: string; limit: number; window: number; remaining: number; resetMs: number } | null;
  /** The principal's pool of slots, or `null` when uncapped. */
  concurrency: { limit: number; inFlight: number } | null;
  /** The budget of the current period, or `null` when none is set. */
  budget: {
    limit: number;
    spent: number;
    remaining: number;
    period: BudgetPeriod;
    mode: "calendar" | "rolling";
    /** When the period ends (ms since the epoch); `null` for a rolling period that has not started. */
    resetsAt: number | null;
  } | null;
}

/**
 * Rate limits, concurrency caps and budgets over a {@link Store}. The pipeline calls {@link Limiter.admit} after
 * policy and before forwarding, and {@link Limiter.settle} once the answer is over (or the tunnel closed).
 */
export interface Limiter {
  /**
   * False when only token mints are limited: proxied calls and tunnel opens then need no admission (the pipeline
   * skips the limiter for them: zero work on the hot path).
   */
  readonly limitsCalls: boolean;
  /**
   * Admits a call or throws a 429 `FalgateError` (`rate_limited`, `concurrency_limited`, `budget_exhausted`)
   * carrying `retry-after` and the RateLimit headers. One store round trip at most, bounded by `storeTimeout`;
   * a failing store admits uncounted (`onStoreError: "open"`) or throws 503 `limits_unavailable` (`"closed"`).
   */
  admit(request: AdmitRequest): Promise<Admission>;
  /**
   * Ends a reservation: frees the slot, or hands it to the queue job the call submitted; records spend from
   * `x-fal-billable-units`; frees a queue job's slot when a status, result or cancel answer shows it ended.
   * Never rejects (store failures are logged); settling twice does nothing. Run it off the answer's path.
   */
  settle(reservation: Reservation, outcome?: CallOutcome): Promise<void>;
  /** A principal's counters (rate of fal calls, or of `target`'s calls; slots; budget) in one store read. */
  usage(principal: string, target?: FalTarget | null): Promise<Usage>;
  /** Frees the slot of queue job `requestId` of `principal` (e.g. from a fal webhook handler). Never rejects. */
  endJob(principal: string, requestId: string, target?: FalTarget | null): Promise<void>;
}

/** What the limiter takes from the instance around it. */
export interface LimiterContext {
  /** Where counters live: the instance's `store` (share one, Redis or a Durable Object, between instances). @default createMemoryStore() */
  store?: Store;
  /** Where store failures are reported (at most one line per 10 s per kind). @default consoleLogger() */
  logger?: Logger;
  /** The clock, ms since the epoch (tests). @default Date.now */
  now?: () => number;
  /** Told of each recorded spend (billable units × price), e.g. to emit it as an event. */
  onSpend?: (spend: { principal: string; appId: string | null; amount: number }) => void;
}

type Category = "work" | "poll" | "token" | "tunnel" | "other";

/** The checks of one kind of call to one endpoint, worked out once and cached. */
interface Template {
  category: Category;
  rate: Rate | null;
  /** The principal's pool of slots: `""` (the top-level one) or the endpoint pattern owning it. */
  pool: { name: string; limit: number } | null;
  total: number;
  budget: boolean;
  price: number;
  ttl: number;
  /** Nothing to check: admission needs no store call. */
  empty: boolean;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const NO_ANSWER: CallOutcome = Object.freeze({ status: 0, header: () => null });
const DAY = 86_400_000;
/** Refusals for want of a slot: slots free as calls end, which no clock predicts. */
const CONCURRENCY_RETRY_AFTER = 1;
const UNAVAILABLE_RETRY_AFTER = 2;
/** After this many store failures in a row, the store is skipped for {@link BREAKER_COOLDOWN} ms. */
const BREAKER_FAILURES = 3;
const BREAKER_COOLDOWN = 1_000;
const LOG_EVERY = 10_000;
const MAX_TEMPLATES = 2_048;
const REQUEST_ID = /^[A-Za-z0-9._~-]{1,128}$/;
const BODY_REQUEST_ID = /"request_id"\s*:\s*"([^"\\]{1,128})"/;
const BODY_STATUS = /"status"\s*:\s*"([A-Z_]{1,40})"/;

class Held implements Reservation {
  settled = false;
  constructor(
    readonly principal: string,
    readonly tracked: boolean,
    readonly template: Template,
    readonly target: FalTarget | null,
    readonly id: string,
    readonly slotKeys: readonly string[],
  ) {}
}

/** Spend to record in a settlement: what the store adds, and what {@link LimiterContext.onSpend} is told. */
interface Charge {
  add: NonNullable<SettlePlan["add"]>;
  spend: { principal: string; appId: string | null; amount: number };
}

class StoreSkipped extends Error {
  override readonly name = "StoreSkipped";
}

/**
 * Creates the limiter of `options`, or resolves `null` when nothing is limited (then call nothing: zero work on
 * the hot path). Options are validated here, once: a bad value throws a `TypeError` naming it.
 * @example
 * const limiter = createLimiter({ rate: "60/min", maxConcurrent: 2, budget: "500/day" }, { logger });
 */
export function createLimiter(
  options: LimitsOptions | undefined,
  context: LimiterContext = {},
): Limiter | null {
  const limits = resolveLimits(options, context.store ?? createMemoryStore());
  return (
    limits &&
    new LimiterImpl(limits, context.logger ?? consoleLogger(), context.now ?? Date.now, context.onSpend)
  );
}

class LimiterImpl implements Limiter {
  readonly limitsCalls: boolean;
  private readonly templates = new Map<string, Template>();
  private readonly periodOf: ((at: number) => BudgetWindow) | null;
  private readonly instance = randomId();
  private sequence = 0;
  private failures = 0;
  private skipUntil = 0;
  private readonly lastLog = new Map<string, { at: number; suppressed: number }>();
  private readonly local: boolean;

  constructor(
    private readonly limits: ResolvedLimits,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly onSpend: LimiterContext["onSpend"],
  ) {
    this.periodOf = limits.budget && budgetWindows(limits.budget);
    this.local = isLocalStore(limits.store);
    this.limitsCalls = limitsCalls(limits);
  }

  async admit(request: AdmitRequest): Promise<Admission> {
    const { principal, target } = request;
    const category = categorize(request.kind, target);
    const template = this.template(category, target, category === "token" && principal === SHARED_CLIENT_KEY);
    if (template.empty) {
      return { headers: NO_HEADERS, reservation: new Held(principal, true, template, target, "", []) };
    }
    const at = this.now();
    const period = template.budget && this.periodOf ? this.periodOf(at) : null;
    const plan = this.plan(template, principal, period, false);
    let result: AdmitResult;
    try {
      result = await this.guard(
        () => this.limits.store.admit(plan),
        request.signal ?? null,
        // An admission the store ran after we stopped waiting: give its slots back (the store has just
        // answered, so this goes straight to it, past the breaker).
        (late) => {
          if (!late.admitted || plan.slots.length === 0) return;
          this.limits.store
            .settle({ release: plan.slots.map((s) => s.key), id: plan.id })
            .catch((error) => this.warn("settle", error));
        },
      );
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason ?? error;
      this.warn("admit", error);
      if (this.limits.onStoreError === "closed") throw unavailable(error);
      return { headers: NO_HEADERS, reservation: new Held(principal, false, template, target, "", []) };
    }
    const policies = this.policies(template, result, period, at);
    const headers = rateLimitHeaders(policies);
    if (!result.admitted) throw this.refusal(template, result, policies, headers);
    const slotKeys = plan.slots.map((s) => s.key);
    return { headers, reservation: new Held(principal, true, template, target, plan.id, slotKeys) };
  }

  async settle(reservation: Reservation, outcome: CallOutcome = NO_ANSWER): Promise<void> {
    if (!(reservation instanceof Held) || reservation.settled) return;
    reservation.settled = true;
    try {
      switch (reservation.template.category) {
        case "work":
          return await this.settleWork(reservation, outcome);
        case "poll":
          return await this.settlePoll(reservation, outcome);
        case "tunnel":
          return await this.commit(reservation.slotKeys, reservation.id, null);
        default:
          return;
      }
    } catch (error) {
      this.warn("settle", error);
    }
  }

  async usage(principal: string, target: FalTarget | null = null): Promise<Usage> {
    const category = target ? categorize("proxy", target) : "work";
    const template = this.template(
      category === "poll" ? "work" : category,
      category === "poll" ? null : target,
    );
    const usage: Usage = { principal, rate: null, concurrency: null, budget: null };
    if (template.empty) return usage;
    const at = this.now();
    const period = template.budget && this.periodOf ? this.periodOf(at) : null;
    let result: AdmitResult;
    try {
      result = await this.guard(
        () => this.limits.store.admit(this.plan(template, principal, period, true)),
        null,
      );
    } catch (error) {
      this.warn("usage", error);
      throw unavailable(error);
    }
    const budget = this.limits.budget;
    for (const p of this.policies(template, result, period, at)) {
      if (p.kind === "rate" && template.rate) {
        usage.rate = {
          policy: p.name,
          limit: p.quota,
          window: template.rate.window,
          remaining: p.remaining,
          resetMs: p.resetMs ?? 0,
        };
      } else if (p.kind === "concurrency" && p.name === "concurrency") {
        usage.concurrency = { limit: p.quota, inFlight: p.quota - p.remaining };
      } else if (p.kind === "budget" && budget) {
        usage.budget = {
          limit: budget.units,
          spent: result.total?.value ?? 0,
          remaining: Math.max(0, budget.units - (result.total?.value ?? 0)),
          period: budget.period,
          mode: budget.mode,
          resetsAt: p.resetMs === null ? null : at + p.resetMs,
        };
      }
    }
    return usage;
  }

  async endJob(principal: string, requestId: string, target: FalTarget | null = null): Promise<void> {
    await this.commit(this.jobSlotKeys(principal, target), `job:${requestId}`, null);
  }

  // --- admission -------------------------------------------------------------------------------------------

  /**
   * The template of a kind of call to an endpoint: each field from the most specific pattern that sets it. `shared`:
   * a mint counted against the key all anonymous callers without an address share (only a configured rate applies).
   */
  private template(category: Category, target: FalTarget | null, shared = false): Template {
    const cacheKey = `${category}${shared ? "*" : ""}\n${target?.kind ?? ""}\n${target?.endpointId ?? ""}`;
    let template = this.templates.get(cacheKey);
    if (template) return template;
    const { limits } = this;
    const rules = target ? limits.endpoints.filter((rule) => rule.matches(target)) : [];
    const pick = <K extends "rate" | "maxConcurrent" | "price">(field: K) =>
      rules.find((rule) => rule[field] !== undefined);
    const slotted = category === "work" || category === "tunnel";
    let rate: Rate | null = null;
    if (category === "work") {
      const rule = pick("rate");
      rate = rule ? (rule.rate ?? null) : limits.rate;
    } else if (category === "other") rate = limits.rate;
    else if (category === "token") rate = shared ? limits.sharedTokenRate : limits.tokenRate;
    else if (category === "tunnel") rate = limits.tunnelRate;
    let pool: Template["pool"] = null;
    if (slotted) {
      const rule = pick("maxConcurrent");
      const limit = rule ? (rule.maxConcurrent ?? 0) : limits.maxConcurrent;
      if (limit > 0) pool = { name: rule ? rule.pattern : "", limit };
    }
    const total = slotted ? limits.maxConcurrentTotal : 0;
    const budget = limits.budget !== null && (slotted || category === "token");
    template = {
      category,
      rate,
      pool,
      total,
      budget,
      price: pick("price")?.price ?? 1,
      ttl: category === "tunnel" ? limits.tunnelTimeout : limits.callTimeout,
      empty: category === "poll" || (!rate && !pool && total <= 0 && !budget),
    };
    if (this.templates.size >= MAX_TEMPLATES) this.templates.clear();
    this.templates.set(cacheKey, template);
    return template;
  }

  private plan(template: Template, principal: string, period: BudgetWindow | null, peek: boolean): AdmitPlan {
    const slots: { key: string; limit: number }[] = [];
    if (template.pool)
      slots.push({ key: this.poolKey(template.pool.name, principal), limit: template.pool.limit });
    if (template.total > 0) slots.push({ key: this.totalKey(), limit: template.total });
    const rate = template.rate;
    const budget = this.limits.budget;
    return {
      window: rate
        ? {
            key: `${this.limits.keyPrefix}rate:${rate.key}:${principal}`,
            limit: rate.limit,
            windowMs: rate.window,
          }
        : null,
      total: period && budget ? { key: this.spendKey(period, principal), limit: budget.units } : null,
      slots,
      id: slots.length > 0 && !peek ? `call:${this.instance}:${(this.sequence++).toString(36)}` : "",
      ttlMs: template.ttl,
      peek,
    };
  }

  /** The policies of a call and their state, in header order: rate, concurrency, budget. */
  private policies(
    template: Template,
    result: AdmitResult,
    period: BudgetWindow | null,
    at: number,
  ): PolicyState[] {
    const out: PolicyState[] = [];
    if (template.rate && result.window) {
      out.push({
        name: template.rate.policy,
        kind: "rate",
        quota: template.rate.limit,
        window: template.rate.window,
        remaining: result.window.remaining,
        resetMs: result.window.resetMs,
      });
    }
    let index = 0;
    if (template.pool) {
      const held = result.slots[index++] ?? 0;
      out.push({
        name: "concurrency",
        kind: "concurrency",
        quota: template.pool.limit,
        window: null,
        remaining: template.pool.limit - held,
        resetMs: null,
      });
    }
    // The account-wide pool is the app's business: named only when it is what refused the call.
    if (template.total > 0 && result.refused === "slots" && (result.slots[index] ?? 0) >= template.total) {
      const fullPool = template.pool !== null && (result.slots[0] ?? 0) >= template.pool.limit;
      if (!fullPool) {
        out.push({
          name: "concurrency-total",
          kind: "concurrency",
          quota: template.total,
          window: null,
          remaining: 0,
          resetMs: null,
        });
      }
    }
    const budget = this.limits.budget;
    if (budget && period && result.total) {
      const started = result.total.resetMs > 0;
      out.push({
        name: "budget",
        kind: "budget",
        quota: budget.units,
        window: period.length,
        remaining: budget.units - result.total.value,
        resetMs: budget.mode === "calendar" ? period.end - at : started ? result.total.resetMs : null,
      });
    }
    return out;
  }

  private refusal(
    template: Template,
    result: AdmitResult,
    policies: readonly PolicyState[],
    headers: Record<string, string>,
  ): FalgateError {
    const budget = policies.find((p) => p.kind === "budget");
    const rate = policies.find((p) => p.kind === "rate");
    if (result.refused === "total" && budget && this.limits.budget) {
      const retry = seconds(budget.resetMs ?? budget.window ?? DAY, 1);
      const spent = this.limits.budget.units - budget.remaining;
      return new FalgateError(
        "budget_exhausted",
        `Usage budget spent: ${round(spent)} of ${round(this.limits.budget.units)} units this ` +
          `${this.limits.budget.period}. It resets in ${duration(retry)}.`,
        { headers: { ...headers, "retry-after": String(retry) } },
      );
    }
    if (result.refused === "window" && rate && template.rate) {
      const retry = seconds(rate.resetMs ?? 0, 1);
      return new FalgateError(
        "rate_limited",
        `Too many requests: at most ${template.rate.limit} ${scope(template)} per ${per(template.rate.window)}. ` +
          `Try again in ${duration(retry)}.`,
        { headers: { ...headers, "retry-after": String(retry) } },
      );
    }
    const total = policies.some((p) => p.name === "concurrency-total");
    const limit = total ? template.total : (template.pool?.limit ?? template.total);
    return new FalgateError(
      "concurrency_limited",
      total
        ? `The service is at capacity (${limit} calls in progress). Try again shortly.`
        : `Too many calls in progress: at most ${limit} at a time${template.pool?.name ? ` for ${template.pool.name}` : ""}. ` +
            "Try again when one finishes.",
      { headers: { ...headers, "retry-after": String(CONCURRENCY_RETRY_AFTER) } },
    );
  }

  // --- settlement ------------------------------------------------------------------------------------------

  private async settleWork(held: Held, outcome: CallOutcome): Promise<void> {
    const ok = outcome.status >= 200 && outcome.status < 300;
    const submit = held.target?.kind === "queue-submit";
    const requestId = submit && ok ? requestIdOf(outcome) : null;
    const units = this.limits.budget ? billableUnits(outcome) : 0;
    const charge = this.charge(held, units * held.template.price, submit ? requestIdOf(outcome) : null);
    // The common case: the call's slots given back and its spend recorded, in one store call.
    if (!requestId) return this.commit(held.slotKeys, held.id, charge);
    // A submitted queue job keeps the call's slots until it ends.
    const tasks: Promise<void>[] = [];
    if (held.slotKeys.length > 0) {
      tasks.push(
        this.step("settle", () =>
          Promise.all(
            held.slotKeys.map((key) =>
              this.limits.store.move(key, held.id, `job:${requestId}`, this.limits.queueTimeout),
            ),
          ),
        ),
      );
    }
    if (this.limits.budget && this.limits.priced) {
      // Queue URLs name only the app, so the job remembers the price of the endpoint it was submitted to.
      const ttl = Math.max(this.limits.queueTimeout, DAY);
      tasks.push(
        this.step("settle", () =>
          this.limits.store.add(this.priceKey(requestId), held.template.price + 1, ttl),
        ),
      );
    }
    if (charge) tasks.push(this.commit([], "", charge));
    await Promise.all(tasks);
  }

  private async settlePoll(held: Held, outcome: CallOutcome): Promise<void> {
    const target = held.target;
    const requestId = target?.requestId;
    if (!target || !requestId || !REQUEST_ID.test(requestId)) return;
    const release = jobEnded(target, outcome) ? this.jobSlotKeys(held.principal, target) : [];
    const units = this.limits.budget ? billableUnits(outcome) : 0;
    let price = held.template.price;
    if (units > 0 && this.limits.priced) {
      const remembered = await this.guard(
        () => this.limits.store.total(this.priceKey(requestId)),
        null,
      ).catch((error) => {
        this.warn("settle", error);
        return 0;
      });
      if (remembered > 0) price = remembered - 1;
    }
    // The job's slots given back (when it ended) and its spend recorded (charged once), in one store call.
    await this.commit(release, `job:${requestId}`, this.charge(held, units * price, requestId));
  }

  /**
   * The spend of `amount` for the principal's current budget period, or `null` when there is nothing to record.
   * A queue job (`once` = its request id) is charged at most once, however often its result is read.
   */
  private charge(held: Held, amount: number, once: string | null): Charge | null {
    const periodOf = this.periodOf;
    const budget = this.limits.budget;
    if (!periodOf || !budget || amount <= 0) return null;
    const period = periodOf(this.now());
    const { principal } = held;
    return {
      add: {
        key: this.spendKey(period, principal),
        amount,
        ttlMs: period.ttl,
        once: once
          ? {
              key: `${this.limits.keyPrefix}billed:${once}`,
              ttlMs: Math.max(this.limits.queueTimeout, budget.period === "day" ? DAY : 31 * DAY),
            }
          : null,
      },
      spend: { principal, appId: held.target?.appId ?? null, amount },
    };
  }

  /**
   * Gives back the slot `id` of `keys` and records `charge`, in one store call ({@link Store.settle}), and tells
   * `onSpend` when the spend was added. Never rejects: on failure the slots still free up at their deadline.
   */
  private commit(keys: readonly string[], id: string, charge: Charge | null): Promise<void> {
    const release = id === "" ? [] : keys;
    if (release.length === 0 && !charge) return Promise.resolve();
    return this.safely("settle", async () => {
      const added = await this.guard(
        () => this.limits.store.settle({ release, id, add: charge?.add ?? null }),
        null,
      );
      if (charge && added !== null) this.onSpend?.(charge.spend);
    });
  }

  /** The slot sets a queue job of `principal` may hold: every pool a call to `target` could have taken. */
  private jobSlotKeys(principal: string, target: FalTarget | null): string[] {
    const { limits } = this;
    const keys: string[] = [];
    if (limits.maxConcurrent > 0) keys.push(this.poolKey("", principal));
    for (const rule of limits.endpoints) {
      if ((rule.maxConcurrent ?? 0) > 0 && (target === null || rule.matches(target))) {
        keys.push(this.poolKey(rule.pattern, principal));
      }
    }
    if (limits.maxConcurrentTotal > 0) keys.push(this.totalKey());
    return keys;
  }

  // --- store access ----------------------------------------------------------------------------------------

  /**
   * Runs a store call bounded by `storeTimeout` and the client's signal. After {@link BREAKER_FAILURES} failures
   * in a row the store is skipped for {@link BREAKER_COOLDOWN} ms, so an outage costs no request a timeout;
   * the next call after that probes it again. `onLate` gets a result that came after we stopped waiting.
   */
  private guard<T>(
    call: () => Promise<T>,
    signal: AbortSignal | null,
    onLate?: (value: T) => void,
  ): Promise<T> {
    // The memory store answers synchronously and cannot fail: no timer, no breaker on the hot path.
    if (this.local) return call();
    if (this.failures >= BREAKER_FAILURES && Date.now() < this.skipUntil) {
      return Promise.reject(new StoreSkipped("falgate: the limits store is failing; skipped for a moment"));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (failed: boolean) => {
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (!failed) this.failures = 0;
        else if (++this.failures >= BREAKER_FAILURES) this.skipUntil = Date.now() + BREAKER_COOLDOWN;
      };
      const timer = setTimeout(() => {
        finish(true);
        reject(new Error(`falgate: the limits store did not answer within ${this.limits.storeTimeout} ms`));
      }, this.limits.storeTimeout);
      const onAbort = () => {
        done = true;
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      let pending: Promise<T>;
      try {
        pending = call();
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (value) => {
          if (done) return onLate?.(value);
          finish(false);
          resolve(value);
        },
        (error: unknown) => {
          if (done) return;
          finish(true);
          reject(error);
        },
      );
    });
  }

  /** Runs a settlement step (one store call, or several in parallel): bounded, failures logged, never rejects. */
  private step(what: string, call: () => Promise<unknown>): Promise<void> {
    return this.safely(what, () => this.guard(call, null));
  }

  /** Runs `call`, logging instead of rejecting. */
  private async safely(what: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.warn(what, error);
    }
  }

  private warn(what: string, error: unknown): void {
    const at = Date.now();
    const last = this.lastLog.get(what);
    if (last && at - last.at < LOG_EVERY) {
      last.suppressed++;
      return;
    }
    this.lastLog.set(what, { at, suppressed: 0 });
    try {
      this.logger.warn(`limits store failed during ${what}`, {
        error: error instanceof Error ? error.message : String(error),
        onStoreError: this.limits.onStoreError,
        ...(last?.suppressed ? { suppressed: last.suppressed } : {}),
      });
    } catch {
      // A throwing logger must not turn a store failure into a failed request.
    }
  }

  // --- keys ------------------------------------------------------------------------------------------------

  private poolKey(name: string, principal: string): string {
    return `${this.limits.keyPrefix}slots:${name}:${principal}`;
  }

  private totalKey(): string {
    return `${this.limits.keyPrefix}slots-total`;
  }

  private spendKey(period: BudgetWindow, principal: string): string {
    return `${this.limits.keyPrefix}spend:${period.id}:${principal}`;
  }

  private priceKey(requestId: string): string {
    return `${this.limits.keyPrefix}price:${requestId}`;
  }
}

function categorize(kind: LimitKind, target: FalTarget | null): Category {
  if (kind === "token") return "token";
  if (kind === "tunnel") return "tunnel";
  switch (target?.kind) {
    case "run":
    case "queue-submit":
    case "stream":
    case "realtime":
      return "work";
    case "queue-request":
      return "poll";
    case "token":
      return "token";
    default:
      return "other";
  }
}

/** Whether an answer about a queue request shows the job is over (its slot can go). */
function jobEnded(target: FalTarget, outcome: CallOutcome): boolean {
  switch (target.action) {
    // fal answers a status 202 while the job is pending and 200 once it is COMPLETED; a result only then.
    case "status":
    case "result":
      return outcome.status === 200;
    case "cancel": {
      const status = outcome.body ? BODY_STATUS.exec(outcome.body)?.[1] : undefined;
      if (status) return status === "CANCELLATION_REQUESTED" || status === "ALREADY_COMPLETED";
      // 202 CANCELLATION_REQUESTED, 400 ALREADY_COMPLETED; 404 NOT_FOUND proves nothing.
      return (outcome.status >= 200 && outcome.status < 300) || outcome.status === 400;
    }
    default:
      return false;
  }
}

/** fal's request id: `x-fal-request-id`, or the `request_id` of a submit answer's body. */
function requestIdOf(outcome: CallOutcome): string | null {
  const header = outcome.header("x-fal-request-id")?.trim();
  if (header && REQUEST_ID.test(header)) return header;
  const fromBody = outcome.body ? BODY_REQUEST_ID.exec(outcome.body)?.[1] : undefined;
  return fromBody && REQUEST_ID.test(fromBody) ? fromBody : null;
}

function billableUnits(outcome: CallOutcome): number {
  const value = Number(outcome.header("x-fal-billable-units") ?? "");
  return Number.isFinite(value) && value > 0 ? value : 0;
}

function unavailable(cause: unknown): FalgateError {
  return new FalgateError(
    "limits_unavailable",
    "Usage limits cannot be checked right now. Try again shortly.",
    {
      cause,
      headers: { "retry-after": String(UNAVAILABLE_RETRY_AFTER) },
    },
  );
}

function scope(template: Template): string {
  switch (template.category) {
    case "token":
      return "token requests";
    case "tunnel":
      return "realtime connections";
    default:
      return template.rate?.key.startsWith("e:") ? `requests to ${template.rate.policy}` : "requests";
  }
}

function per(window: number): string {
  const units: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1_000, "second"],
  ];
  for (const [ms, name] of units) {
    if (window === ms) return name;
    if (window % ms === 0) return `${window / ms} ${name}s`;
  }
  return `${window} ms`;
}

function duration(totalSeconds: number): string {
  if (totalSeconds < 120) return `${totalSeconds} s`;
  if (totalSeconds < 7_200) return `${Math.ceil(totalSeconds / 60)} min`;
  if (totalSeconds < 172_800) return `${Math.ceil(totalSeconds / 3_600)} h`;
  return `${Math.ceil(totalSeconds / 86_400)} days`;
}

function round(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function randomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
