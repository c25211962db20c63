import { recentRetryAfter } from "./usage";

/** An error as a person wants to read it. */
export interface ReadableError {
  /** A short title. */
  title: string;
  /** The sentence that explains it (falgate's message, fal's detail). */
  detail: string;
  /** What the card's status pill says instead of its state ("signed out: sign in to call fal"). */
  badge: string;
  /** When to try again, for a limit refusal ("Try again at 10:21:05, in 14 s."). */
  retry?: string;
}

const TITLES: Record<string, string> = {
  unauthenticated: "Signed out",
  endpoint_not_allowed: "Endpoint refused by policy",
  invalid_token: "Token refused",
  unauthorized: "Token refused",
  forbidden: "Not allowed",
  origin_not_allowed: "Origin refused",
  host_not_allowed: "Host name refused",
  rate_limited: "Rate limit reached",
  concurrency_limited: "Too many calls at once",
  budget_exhausted: "Budget spent",
  limits_unavailable: "Limits unavailable",
  missing_credentials: "The proxy has no fal key",
  network_error: "Network error",
};

const BADGES: Record<string, string> = {
  unauthenticated: "signed out: sign in to call fal",
  endpoint_not_allowed: "refused by policy",
  concurrency_limited: "refused: too many at once",
};

interface ErrorLike {
  message?: unknown;
  status?: unknown;
  body?: unknown;
  kind?: unknown;
  code?: unknown;
  retryAfter?: unknown;
}

/** "14 s", "3 min 20 s", "5 h 12 min". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const minutes = Math.floor((s % 3600) / 60);
  return minutes ? `${Math.floor(s / 3600)} h ${minutes} min` : `${Math.floor(s / 3600)} h`;
}

/** A clock time: seconds shown when it is near. */
export function clock(at: number, withSeconds: boolean): string {
  return new Date(at).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    ...(withSeconds ? { second: "2-digit" } : {}),
  });
}

/** The extra lines of a limit refusal: when to try again. */
function limitParts(code: string, retryAfter: number | null): Pick<ReadableError, "badge" | "retry"> {
  if (code === "concurrency_limited") {
    return {
      badge: BADGES[code]!,
      retry: "Try again when one of your calls finishes (the meter shows them).",
    };
  }
  const word = code === "budget_exhausted" ? "budget spent" : "rate limited";
  if (retryAfter === null) return { badge: word };
  const at = Date.now() + retryAfter * 1000;
  const near = retryAfter < 3600;
  const verb = code === "budget_exhausted" ? "resets" : "retry";
  return {
    // A clock time, not a countdown: the pill stays true while it is on screen.
    badge: `${word}: ${verb} at ${clock(at, near)}`,
    retry: `Try again at ${clock(at, near)}, in ${duration(retryAfter)}.`,
  };
}

/**
 * Turns what `@fal-ai/client` (an `ApiError` carrying falgate's JSON body), the page's fetch (a `LimitRefusal`) or
 * `@falgate/client` (a `FalgateRealtimeError`) throws into a title, a sentence and a short badge.
 */
export function describeError(error: unknown): ReadableError {
  const e = (error ?? {}) as ErrorLike;
  const status = typeof e.status === "number" ? e.status : undefined;
  const body = e.body as { error?: { code?: unknown; message?: unknown }; detail?: unknown } | undefined;
  const httpSuffix = status ? ` (HTTP ${status})` : "";
  if (body && typeof body === "object" && typeof body.error?.message === "string") {
    const code = String(body.error.code ?? "");
    const readable = {
      title: TITLES[code] ?? code,
      detail: `${body.error.message}${httpSuffix}`,
      badge: BADGES[code] ?? `refused: ${code}`,
    };
    if (code === "rate_limited" || code === "concurrency_limited" || code === "budget_exhausted") {
      const retryAfter = typeof e.retryAfter === "number" ? e.retryAfter : recentRetryAfter(code);
      return { ...readable, ...limitParts(code, retryAfter) };
    }
    return readable;
  }
  if (body && typeof body === "object" && body.detail !== undefined) {
    const detail = Array.isArray(body.detail)
      ? body.detail
          .map((d: { msg?: string; loc?: unknown[] }) => `${(d.loc ?? []).join(".")}: ${d.msg}`)
          .join("; ")
      : String(body.detail);
    return { title: "fal refused the request", detail: `${detail}${httpSuffix}`, badge: "fal refused it" };
  }
  if (typeof e.kind === "string" && typeof e.code === "string") {
    return {
      title: TITLES[e.code] ?? TITLES[e.kind] ?? "Realtime error",
      detail: String(e.message),
      badge: BADGES[e.code] ?? "failed",
    };
  }
  return {
    title: "Error",
    detail: typeof e.message === "string" ? e.message : String(error),
    badge: "failed",
  };
}
