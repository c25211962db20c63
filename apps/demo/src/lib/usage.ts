"use client";
import type { Usage } from "@falgate/core";

export type { Usage };

/** Where falgate answers the signed-in caller's counters. */
export const USAGE_URL = "/api/fal/proxy/usage";

/** What the meter shows. */
export interface UsageState {
  /** The counters, from the usage route, updated by the RateLimit headers of every counted answer since. */
  usage: Usage | null;
  /** `Date.now()` when `usage` was last updated (the rate's `resetMs` counts from here). */
  at: number;
  /** Why the last read failed, if it did. */
  error: string | null;
}

/** A limit refusal the page just got (a stream's error carries no headers: its card finds Retry-After here). */
interface Refusal {
  code: string;
  retryAfter: number | null;
  at: number;
}

const EMPTY: UsageState = { usage: null, at: 0, error: null };
let state: UsageState = EMPTY;
let lastRefusal: Refusal | null = null;
const listeners = new Set<() => void>();
/** Every update takes a number; a read answered after a newer update is dropped. */
let sequence = 0;
let applied = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

function publish(next: UsageState, seq: number): void {
  if (seq < applied) return;
  applied = seq;
  state = next;
  for (const listener of listeners) listener();
}

/** For `useSyncExternalStore`. */
export function subscribeUsage(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function usageSnapshot(): UsageState {
  return state;
}

export function serverUsageSnapshot(): UsageState {
  return EMPTY;
}

/**
 * Re-reads the counters from the usage route, soon: calls within `delayMs` make one request (each is a line in the
 * server's access log, so the page reads only when something changed: a call ended, a limit refused one).
 */
export function refreshUsage(delayMs = 150): void {
  clearTimeout(timer);
  timer = setTimeout(read, delayMs);
}

async function read(): Promise<void> {
  const seq = ++sequence;
  try {
    const response = await fetch(USAGE_URL, { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) return publish({ ...state, error: `the usage route answered ${response.status}` }, seq);
    publish({ usage: (await response.json()) as Usage, at: Date.now(), error: null }, seq);
  } catch {
    publish({ ...state, error: "the usage route is unreachable" }, seq);
  }
}

/**
 * Applies the RateLimit headers falgate puts on every counted answer (`RateLimit: "rate";r=7, "concurrency";r=1,
 * "budget";r=23;t=50400`), so the meter moves the moment an answer arrives, without asking the usage route.
 */
export function noteLimitHeaders(headers: Headers): void {
  const current = state.usage;
  const items = parseItems(headers.get("ratelimit"));
  if (!current || items.size === 0) return;
  const next: Usage = { ...current };
  const rate = items.get("rate");
  if (rate?.r !== undefined && next.rate) {
    next.rate = { ...next.rate, remaining: rate.r, resetMs: (rate.t ?? 0) * 1000 };
  }
  const slots = items.get("concurrency");
  if (slots?.r !== undefined && next.concurrency) {
    next.concurrency = { ...next.concurrency, inFlight: next.concurrency.limit - slots.r };
  }
  const budget = items.get("budget");
  if (budget?.r !== undefined && next.budget) {
    next.budget = { ...next.budget, remaining: budget.r, spent: next.budget.limit - budget.r };
  }
  publish({ usage: next, at: Date.now(), error: null }, ++sequence);
}

/** Records a limit refusal (and re-reads the counters: the meter then shows what ran out). */
export function noteRefusal(code: string, retryAfter: number | null): void {
  lastRefusal = { code, retryAfter, at: Date.now() };
  refreshUsage();
}

/** Retry-After of a refusal with this code received in the last few seconds, if any. */
export function recentRetryAfter(code: string): number | null {
  const recent = lastRefusal;
  return recent && recent.code === code && Date.now() - recent.at < 5_000 ? recent.retryAfter : null;
}

/** `"name";r=1;t=2, ...` → name → numeric parameters (a small reader of the structured-field list falgate sends). */
function parseItems(value: string | null): Map<string, Record<string, number>> {
  const items = new Map<string, Record<string, number>>();
  if (!value) return items;
  for (const match of value.matchAll(/"([^"]*)"((?:\s*;\s*[a-z]+=(?:"[^"]*"|[^;,]*))*)/g)) {
    const params: Record<string, number> = {};
    for (const param of match[2]!.matchAll(/;\s*([a-z]+)=([^;,"]*)/g)) {
      const number = Number(param[2]);
      if (param[2] !== "" && Number.isFinite(number)) params[param[1]!] = number;
    }
    items.set(match[1]!, params);
  }
  return items;
}
