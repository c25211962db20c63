/**
 * The RateLimit header fields of draft-ietf-httpapi-ratelimit-headers-11 (May 2026): `RateLimit-Policy` lists
 * the quota policies that apply to the call (`"rate";q=60;w=60`), `RateLimit` what is left of each
 * (`"rate";r=12;t=30`). Both are Structured Field lists of quoted policy names with parameters: `q` quota, `w`
 * window (s), `qu` quota unit, `r` remaining, `t` seconds until more quota is available. Refusals add
 * `Retry-After` (seconds), never earlier than `t`.
 */

/**
 * Response headers of the limits a page on another origin must be able to read: add them to CORS
 * `Access-Control-Expose-Headers` (none of them is CORS-safelisted).
 */
export const LIMIT_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  "ratelimit",
  "ratelimit-policy",
  "retry-after",
]);

/** Quota unit of concurrency policies (registered by the draft). */
const CONCURRENT = 'qu="concurrent-requests"';
/**
 * Quota unit of budget policies. The draft's registry has no unit for spend; a client that does not know this one
 * can ignore the item (`RateLimit` items are advisory), and the `budget_exhausted` refusal says it in words.
 */
const BUDGET_UNITS = 'qu="budget-units"';

/** One policy and its current state, as the limiter found it. */
export interface PolicyState {
  /** Policy name (`rate`, `tokens`, `tunnels`, an endpoint pattern, `concurrency`, `concurrency-total`, `budget`). */
  name: string;
  kind: "rate" | "concurrency" | "budget";
  /** Quota: requests per window, slots, or budget units. */
  quota: number;
  /** Window in ms (rate, budget), or `null`. */
  window: number | null;
  remaining: number;
  /** Ms until more quota is available, or `null` when that time is not known (concurrency). */
  resetMs: number | null;
}

/** A Structured Field string (the policy names falgate builds are plain, but patterns come from options). */
function sfString(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Whole seconds, rounded up, never below `min`. */
export function seconds(ms: number, min = 0): number {
  return Math.max(min, Math.ceil(ms / 1000));
}

/** The `RateLimit-Policy` and `RateLimit` headers for the policies of a call. */
export function rateLimitHeaders(policies: readonly PolicyState[]): Record<string, string> {
  const policy: string[] = [];
  const state: string[] = [];
  for (const p of policies) {
    const name = sfString(p.name);
    const quota = Math.max(0, Math.floor(p.quota));
    const remaining = Math.max(0, Math.floor(p.remaining));
    const window = p.window === null ? "" : `;w=${seconds(p.window, 1)}`;
    const unit = p.kind === "concurrency" ? `;${CONCURRENT}` : p.kind === "budget" ? `;${BUDGET_UNITS}` : "";
    policy.push(`${name};q=${quota}${unit}${window}`);
    // A sliding window frees quota continuously, so `t` is only worth sending when nothing is left.
    const reset =
      p.resetMs === null || (p.kind === "rate" && remaining > 0) ? "" : `;t=${seconds(p.resetMs)}`;
    state.push(`${name};r=${remaining}${reset}`);
  }
  return policy.length === 0 ? {} : { "ratelimit-policy": policy.join(", "), ratelimit: state.join(", ") };
}
