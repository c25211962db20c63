import { DEFAULTS } from "../options/defaults.js";
import type { FalTarget } from "../policy/classify.js";
import { endpointMatcher } from "../policy/endpoint.js";
import type { Store } from "../store/types.js";

/** A unit of {@link RateLimit} strings: second, minute, hour, day. */
export type RateUnit = "s" | "min" | "h" | "day";

/**
 * Requests per window: `"60/min"` (units `s`, `min`, `h`, `day`), or `{ limit, window }` with the window in
 * milliseconds. Counted in a sliding window: a burst of `limit` is allowed at once, then calls are spread out
 * (see docs/limits.md).
 */
export type RateLimit = `${number}/${RateUnit}` | { limit: number; window: number };

/** A budget period: a day or a month. */
export type BudgetPeriod = "day" | "month";

/** Spend allowed per period, in units (fal's billable units × the endpoint's `price`). */
export type BudgetLimit =
  | `${number}/${BudgetPeriod}`
  | {
      /** Units allowed per period; calls are refused once this much is spent. */
      units: number;
      period: BudgetPeriod;
      /**
       * `calendar`: periods are calendar days or months in `timeZone` (everyone resets at midnight).
       * `rolling`: a period of 24 h or 30 days starts with the principal's first spend after the last one ended.
       * @default "calendar"
       */
      mode?: "calendar" | "rolling";
      /** IANA time zone of calendar periods. @default "UTC" */
      timeZone?: string;
    };

/** Limits of the calls to one endpoint pattern; each field set here overrides the top-level one for them. */
export interface EndpointLimits {
  /**
   * Requests per window for calls matching the pattern, counted in the pattern's own window instead of `rate`'s;
   * `false`: no rate limit for them. @default the top-level `rate` (and its window)
   */
  rate?: RateLimit | false;
  /**
   * Calls in flight per principal for the pattern, in the pattern's own pool of slots instead of
   * `maxConcurrent`'s; `0`: no per-principal cap for them (`maxConcurrentTotal` still applies).
   * @default the top-level `maxConcurrent` (and its pool)
   */
  maxConcurrent?: number;
  /** Budget units charged per fal billable unit of these calls. @default 1 */
  price?: number;
}

/**
 * Rate limits, concurrency caps and budgets (docs/limits.md). Everything is per principal (the `authorize`
 * hook's id, or the client's address for anonymous callers) except `maxConcurrentTotal`. Nothing is limited
 * unless configured but token mints (`tokens.rate`, 60/min by default), and with nothing else configured proxied
 * calls and tunnels do no limiter work at all.
 * @example
 * limits: {
 *   rate: "60/min",
 *   maxConcurrent: 2,
 *   budget: "500/day",
 *   endpoints: { "fal-ai/kling-video/*": { rate: "5/min", maxConcurrent: 1, price: 20 } },
 * }
 */
export interface LimitsOptions {
  /** Requests per principal per window for fal calls (runs, queue submits, streams, uploads). @default false (none) */
  rate?: RateLimit | false;
  /**
   * Per-endpoint overrides, keyed by `allowedEndpoints` patterns (`"fal-ai/flux/*"`, `"fal-ai/fast-sdxl"`).
   * For each field, the most specific pattern that sets it wins (exact before `/*`, longer before shorter).
   * @default {}
   */
  endpoints?: Readonly<Record<string, EndpointLimits>>;
  /**
   * Token mints (the token route, fal token requests) per principal, in their own window; `false`: none.
   * On even when `limits` is not set; the built-in "60/min" skips anonymous callers without a known address (they
   * share one key), a configured rate does not. @default { rate: the top-level `rate`, else "60/min" }
   */
  tokens?: { rate?: RateLimit | false };
  /**
   * Realtime tunnel opens per principal, in their own window; an open tunnel also holds a concurrency slot.
   * @default { rate: the top-level `rate`, timeout: 3_900_000 }
   */
  tunnels?: {
    rate?: RateLimit | false;
    /** How long a tunnel's slot is held if it is never released (crashed instance); keep above the tunnel's `maxSessionDuration`. */
    timeout?: number;
  };
  /** fal calls in flight per principal (sync runs and streams while open, queue jobs until done, tunnels); `0`: no cap. @default 0 */
  maxConcurrent?: number;
  /** fal calls in flight for the whole account, all principals together; `0`: no cap. @default 0 */
  maxConcurrentTotal?: number;
  /** How long a sync run's or a stream's slot is held if it is never released (crashed instance), ms. @default 900_000 (15 min) */
  callTimeout?: number;
  /** How long a queue job may hold its slot when falgate does not see it end (COMPLETED status, result, cancel), ms. @default 1_800_000 (30 min) */
  queueTimeout?: number;
  /** Spend per principal per period; refused once spent >= budget. @default false (none) */
  budget?: BudgetLimit | false;
  /**
   * When the store fails or is slower than `storeTimeout`: `"open"` admits the call uncounted, `"closed"`
   * refuses it with 503 `limits_unavailable`. @default "open"
   */
  onStoreError?: "open" | "closed";
  /** Longest wait on the store before `onStoreError` applies, ms. @default 500 */
  storeTimeout?: number;
  /** Prefix of every store key, so several apps can share one store. @default "falgate:" */
  keyPrefix?: string;
}

/** The defaults of {@link LimitsOptions}: `DEFAULTS.limits`. */
export const LIMITS_DEFAULTS = DEFAULTS.limits;

/** A validated rate: `key` names its window in the store, `policy` in the RateLimit headers. */
export interface Rate {
  limit: number;
  window: number;
  key: string;
  policy: string;
}

/** A validated budget. */
export interface Budget {
  units: number;
  period: BudgetPeriod;
  mode: "calendar" | "rolling";
  timeZone: string;
}

/** One `endpoints` entry, compiled. `undefined` fields fall through to less specific patterns, then the top level. */
export interface EndpointRule {
  pattern: string;
  matches: (target: FalTarget) => boolean;
  rate: Rate | null | undefined;
  maxConcurrent: number | undefined;
  price: number | undefined;
}

/** {@link LimitsOptions} after validation. */
export interface ResolvedLimits {
  rate: Rate | null;
  tokenRate: Rate | null;
  /**
   * The mint rate of the key anonymous callers without a known address share (`SHARED_CLIENT_KEY`): `tokenRate`
   * when configured (`tokens.rate` or `rate`), `null` when that is only the built-in default (meant per client).
   */
  sharedTokenRate: Rate | null;
  tunnelRate: Rate | null;
  /** Most specific first. */
  endpoints: readonly EndpointRule[];
  maxConcurrent: number;
  maxConcurrentTotal: number;
  callTimeout: number;
  queueTimeout: number;
  tunnelTimeout: number;
  budget: Budget | null;
  /** Some endpoint sets a price (queue jobs then remember theirs). */
  priced: boolean;
  store: Store;
  onStoreError: "open" | "closed";
  storeTimeout: number;
  keyPrefix: string;
}

const UNIT_MS: Readonly<Record<RateUnit, number>> = { s: 1_000, min: 60_000, h: 3_600_000, day: 86_400_000 };
const RATE_FORM = /^(\d+)\/(s|min|h|day)$/;
const BUDGET_FORM = /^(\d+(?:\.\d+)?)\/(day|month)$/;
const STORE_METHODS = [
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
];

function fail(name: string, why: string): never {
  throw new TypeError(`falgate: option \`limits.${name}\` ${why}`);
}

function count(name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    fail(name, `must be an integer >= ${min}`);
  }
  return value;
}

function rate(name: string, value: unknown, fallback: Rate | null, key: string, policy: string): Rate | null {
  if (value === undefined) return fallback;
  if (value === false) return null;
  if (typeof value === "string") {
    const match = RATE_FORM.exec(value.trim());
    if (!match) fail(name, `must look like "60/min" (units s, min, h, day), got ${JSON.stringify(value)}`);
    const limit = Number(match[1]);
    if (limit < 1) fail(name, "must allow at least 1 request");
    return { limit, window: UNIT_MS[match[2] as RateUnit], key, policy };
  }
  if (typeof value === "object" && value !== null) {
    const { limit, window } = value as { limit?: unknown; window?: unknown };
    return {
      limit: count(`${name}.limit`, limit, Number.NaN, 1),
      window: count(`${name}.window`, window, Number.NaN, 1),
      key,
      policy,
    };
  }
  return fail(name, 'must be a string like "60/min", { limit, window } (ms) or false');
}

function budget(value: unknown): Budget | null {
  if (value === undefined || value === false) return null;
  if (typeof value === "string") {
    const match = BUDGET_FORM.exec(value.trim());
    if (!match) fail("budget", `must look like "100/day" or "2000/month", got ${JSON.stringify(value)}`);
    return checkUnits(Number(match[1]), {
      units: 0,
      period: match[2] as BudgetPeriod,
      mode: LIMITS_DEFAULTS.budgetMode,
      timeZone: LIMITS_DEFAULTS.timeZone,
    });
  }
  if (typeof value !== "object" || value === null) {
    fail("budget", 'must be a string like "100/day", { units, period } or false');
  }
  const { units, period, mode, timeZone } = value as Record<string, unknown>;
  if (period !== "day" && period !== "month") fail("budget.period", 'must be "day" or "month"');
  if (mode !== undefined && mode !== "calendar" && mode !== "rolling") {
    fail("budget.mode", 'must be "calendar" or "rolling"');
  }
  const zone = timeZone ?? LIMITS_DEFAULTS.timeZone;
  if (typeof zone !== "string") fail("budget.timeZone", 'must be an IANA time zone such as "UTC"');
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
  } catch {
    fail("budget.timeZone", `names no time zone this runtime knows: ${JSON.stringify(zone)}`);
  }
  return checkUnits(units, { units: 0, period, mode: mode ?? LIMITS_DEFAULTS.budgetMode, timeZone: zone });
}

function checkUnits(units: unknown, rest: Budget): Budget {
  if (typeof units !== "number" || !Number.isFinite(units) || units <= 0) {
    fail("budget.units", "must be a number > 0");
  }
  return { ...rest, units };
}

function price(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) fail(name, "must be a number >= 0");
  return value;
}

/** Exact patterns before `/*` ones, then more segments before fewer; ties keep their configured order. */
function specificity(pattern: string): number {
  const segments = pattern.split("/");
  const wildcard = segments[segments.length - 1] === "*";
  return (wildcard ? 0 : 1000) + (wildcard ? segments.length - 1 : segments.length);
}

/**
 * Validates `limits` once (`undefined` reads as `{}`). Resolves `null` when nothing is limited, so the pipeline
 * skips the limiter entirely; a bad value throws a `TypeError` naming the option.
 */
export function resolveLimits(options: LimitsOptions | undefined, store: Store): ResolvedLimits | null {
  if (options === undefined) return resolveLimits({}, store);
  if (typeof options !== "object" || options === null) fail("", "must be an object");
  const top = rate("rate", options.rate, null, "rate", "rate");
  const tokens = options.tokens ?? {};
  const tunnels = options.tunnels ?? {};
  const configuredTokenRate = tokens.rate !== undefined || top !== null;
  const tokenRate = rate(
    "tokens.rate",
    tokens.rate,
    top
      ? { ...top, key: "token", policy: "tokens" }
      : rate("tokens.rate", LIMITS_DEFAULTS.tokenRate, null, "token", "tokens"),
    "token",
    "tokens",
  );
  const tunnelRate = rate(
    "tunnels.rate",
    tunnels.rate,
    top && { ...top, key: "tunnel", policy: "tunnels" },
    "tunnel",
    "tunnels",
  );
  const endpoints = Object.entries(options.endpoints ?? {})
    .map(([pattern, limits], index): EndpointRule & { order: number } => {
      const name = `endpoints[${JSON.stringify(pattern)}]`;
      if (typeof limits !== "object" || limits === null) fail(name, "must be an object");
      return {
        pattern,
        matches: endpointMatcher(pattern, "option `limits.endpoints`"),
        rate:
          limits.rate === undefined
            ? undefined
            : rate(`${name}.rate`, limits.rate, null, `e:${pattern}`, pattern),
        maxConcurrent:
          limits.maxConcurrent === undefined
            ? undefined
            : count(`${name}.maxConcurrent`, limits.maxConcurrent, 0),
        price: price(`${name}.price`, limits.price),
        order: index,
      };
    })
    .sort((a, b) => specificity(b.pattern) - specificity(a.pattern) || a.order - b.order)
    .map(({ order: _order, ...rule }) => rule);
  for (const method of STORE_METHODS) {
    if (typeof (store as unknown as Record<string, unknown>)[method] !== "function") {
      throw new TypeError(
        `falgate: option \`store\` must implement the Store interface (missing \`${method}\`)`,
      );
    }
  }
  const onStoreError = options.onStoreError ?? LIMITS_DEFAULTS.onStoreError;
  if (onStoreError !== "open" && onStoreError !== "closed")
    fail("onStoreError", 'must be "open" or "closed"');
  const keyPrefix = options.keyPrefix ?? LIMITS_DEFAULTS.keyPrefix;
  if (typeof keyPrefix !== "string") fail("keyPrefix", "must be a string");
  const resolved: ResolvedLimits = {
    rate: top,
    tokenRate,
    sharedTokenRate: configuredTokenRate ? tokenRate : null,
    tunnelRate,
    endpoints,
    maxConcurrent: count("maxConcurrent", options.maxConcurrent, LIMITS_DEFAULTS.maxConcurrent),
    maxConcurrentTotal: count(
      "maxConcurrentTotal",
      options.maxConcurrentTotal,
      LIMITS_DEFAULTS.maxConcurrentTotal,
    ),
    callTimeout: count("callTimeout", options.callTimeout, LIMITS_DEFAULTS.callTimeout, 1),
    queueTimeout: count("queueTimeout", options.queueTimeout, LIMITS_DEFAULTS.queueTimeout, 1),
    tunnelTimeout: count("tunnels.timeout", tunnels.timeout, LIMITS_DEFAULTS.tunnelTimeout, 1),
    budget: budget(options.budget),
    priced: endpoints.some((rule) => rule.price !== undefined),
    store,
    onStoreError,
    storeTimeout: count("storeTimeout", options.storeTimeout, LIMITS_DEFAULTS.storeTimeout, 1),
    keyPrefix,
  };
  const limited = resolved.tokenRate !== null || limitsCalls(resolved);
  return limited ? resolved : null;
}

/** True when proxied calls or tunnels are limited (not only token mints): they then need admission. */
export function limitsCalls(resolved: ResolvedLimits): boolean {
  return Boolean(
    resolved.rate ||
      resolved.tunnelRate ||
      resolved.maxConcurrent > 0 ||
      resolved.maxConcurrentTotal > 0 ||
      resolved.budget ||
      resolved.endpoints.some((rule) => rule.rate || (rule.maxConcurrent ?? 0) > 0),
  );
}
