import { EXPOSED_RESPONSE_HEADERS, type HeaderRule, inHeaderRule } from "./headers.js";
import { PROXY_METHODS } from "./methods.js";
import type { Reply } from "./reply.js";

const ALLOWED_METHODS = PROXY_METHODS.join(", ");
const EXPOSE = EXPOSED_RESPONSE_HEADERS.join(", ");

/** Request headers every preflight allows: the client's content headers, the app's own `Authorization`, the target. */
const BASE_ALLOW_HEADERS = ["content-type", "accept", "authorization", "x-fal-target-url"] as const;

/** The request headers a preflight may allow, compiled once (see {@link allowHeadersRule}). */
export interface AllowHeaders {
  /** The rule a requested header is checked against. */
  readonly rule: HeaderRule;
  /** Its exact names, joined: the answer to a preflight that names no header. */
  readonly listed: string;
}

/** The resolved `cors` options (a part of the instance's settings). */
export interface CorsSettings {
  credentials: boolean;
  maxAge: number;
  allowHeaders: AllowHeaders;
}

/**
 * What CORS preflights allow: the base headers, the forwarded ones (the same rule, families included, so what is
 * forwarded is what a browser may send) and the app's `cors.allowHeaders` (names or families).
 */
export function allowHeadersRule(forward: HeaderRule, extra: HeaderRule): AllowHeaders {
  const names = new Set<string>([...BASE_ALLOW_HEADERS, ...forward.names, ...extra.names]);
  const prefixes = [...new Set([...forward.prefixes, ...extra.prefixes])];
  return { rule: { names, prefixes }, listed: [...names].join(", ") };
}

/** The CORS answer headers for an allowed cross-origin caller (none for `null`). */
export function corsHeaders(
  origin: string | null,
  settings: { readonly cors: CorsSettings },
): Array<[string, string]> {
  if (origin === null) return [];
  const headers: Array<[string, string]> = [["access-control-allow-origin", origin]];
  if (settings.cors.credentials) headers.push(["access-control-allow-credentials", "true"]);
  headers.push(["access-control-expose-headers", EXPOSE], ["vary", "Origin"]);
  return headers;
}

/**
 * The answer to a CORS preflight from an allowed origin. `Access-Control-Allow-Headers` echoes the requested
 * headers that are allowed (a family cannot be spelled out; the browser fails the preflight for any other), or
 * lists the exact names when none were requested.
 */
export function preflightReply(
  origin: string,
  requested: string | null,
  settings: { readonly cors: CorsSettings },
): Reply {
  const { rule, listed } = settings.cors.allowHeaders;
  let allow = listed;
  if (requested !== null) {
    allow = "";
    for (const token of requested.split(",")) {
      const name = token.trim().toLowerCase();
      if (name && inHeaderRule(rule, name)) allow = allow ? `${allow}, ${name}` : name;
    }
  }
  const headers = corsHeaders(origin, settings);
  headers.push(["vary", "Access-Control-Request-Headers"], ["access-control-allow-methods", ALLOWED_METHODS]);
  if (allow) headers.push(["access-control-allow-headers", allow]);
  headers.push(["access-control-max-age", String(settings.cors.maxAge)]);
  return { status: 204, headers, body: null };
}
