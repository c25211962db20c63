import { LIMIT_RESPONSE_HEADERS } from "../limits/headers.js";

/**
 * Request headers forwarded to fal by default (PROTOCOL.md §2): the `x-fal-*` family, so a header the official
 * client adds later (`x-fal-request-source`) passes without a configuration change.
 */
export const DEFAULT_FORWARD_HEADERS: readonly string[] = Object.freeze(["x-fal-*"]);

/** Response headers a browser on another origin must be able to read: fal's, and the limits' (what is left). */
export const EXPOSED_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  "x-fal-request-id",
  "x-fal-request-timeout-type",
  "x-fal-error-type",
  "x-fal-retryable",
  "x-fal-billable-units",
  ...LIMIT_RESPONSE_HEADERS,
]);

/**
 * Headers falgate puts on every relayed answer of fal. Every proxied call has the same URL, so no cache may keep
 * one (`no-store`); a body is never sniffed into another type; and whatever the type, a body that a browser would
 * render as a document on the app's origin (HTML, SVG, XML) is rendered in a sandbox with an opaque origin, no
 * script and no subresource (see docs/security.md#headers).
 */
export const PROXIED_ANSWER_HEADERS: ReadonlyArray<readonly [string, string]> = Object.freeze([
  ["cache-control", "no-store"],
  ["x-content-type-options", "nosniff"],
  ["content-security-policy", "default-src 'none'; frame-ancestors 'none'; sandbox"],
] as const);

// The answer headers of fal that reach the client, besides the `x-fal-*` family: what describes the body, when to
// retry, which methods a 405 allows. Everything else stays behind: caching (falgate sets `no-store`), cookies,
// redirects, CSP, HSTS, `link`, `refresh`, `clear-site-data`, `www-authenticate`, `alt-svc`, CORS, hop-by-hop
// headers, fal's own rate-limit fields (the key's quota, not the user's; the RateLimit names are falgate's limits').
const RELAYED_RESPONSE_HEADERS = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "retry-after",
  "allow",
]);
const FAL_FAMILY = "x-fal-";

/** Content headers always forwarded as sent (never forced, never rewritten). */
const CONTENT_HEADERS = ["content-type", "accept", "user-agent"] as const;

/** Request headers that `forwardHeaders` may not name or cover: falgate sets, consumes or strips them. */
const NEVER_FORWARDED = Object.freeze([
  "authorization",
  "cookie",
  "host",
  "x-fal-target-url",
  "accept-encoding",
  "content-length",
  // RFC 9110 §7.6.1 plus the usual suspects (hop-by-hop).
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * A set of request header names: exact names, and families given as `prefix-*` (`x-fal-*`). Compiled once when
 * the options are resolved; one rule decides what is forwarded and what a CORS preflight allows.
 */
export interface HeaderRule {
  /** Exact lower-case names. */
  readonly names: ReadonlySet<string>;
  /** Lower-case name prefixes of the families (`x-fal-`). */
  readonly prefixes: readonly string[];
}

/** True when the lower-case `name` is in the rule (exactly or by family). */
export function inHeaderRule(rule: HeaderRule, name: string): boolean {
  if (rule.names.has(name)) return true;
  for (const prefix of rule.prefixes) if (name.startsWith(prefix)) return true;
  return false;
}

/**
 * Compiles header names and `prefix-*` families (case-insensitive) into a rule; `fail` is called with a message for
 * an entry that is not a header name or family. With `forwarded`, entries that falgate sets or strips are refused
 * (a family may not cover one, except `x-fal-target-url`, which is never forwarded) and the always-forwarded
 * content headers are left out.
 */
export function compileHeaderRule(
  entries: readonly string[],
  fail: (message: string) => never,
  forwarded: boolean,
): HeaderRule {
  if (!Array.isArray(entries)) fail("must be an array of header names");
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of entries) {
    const lower = String(entry).toLowerCase();
    if (lower.endsWith("*")) {
      const prefix = lower.slice(0, -1);
      if (!prefix.endsWith("-") || !HEADER_NAME.test(prefix)) {
        fail(`has an invalid header family: ${JSON.stringify(entry)} (families look like "x-fal-*")`);
      }
      const covered = NEVER_FORWARDED.find((name) => name.startsWith(prefix) && name !== "x-fal-target-url");
      if (forwarded && covered) fail(`must not cover ${covered}: falgate sets or strips it`);
      if (!prefixes.includes(prefix)) prefixes.push(prefix);
      continue;
    }
    if (!HEADER_NAME.test(lower)) fail(`has an invalid header name: ${JSON.stringify(entry)}`);
    if (forwarded && NEVER_FORWARDED.includes(lower))
      fail(`must not contain ${lower}: falgate sets or strips it`);
    if (forwarded && (CONTENT_HEADERS as readonly string[]).includes(lower)) continue;
    names.add(lower);
  }
  return { names, prefixes };
}

/** The request headers a call reads one by one, and (for the families) all at once. */
export interface HeaderSource {
  header(name: string): string | null;
  forEachHeader(fn: (name: string, value: string) => void): void;
}

/**
 * The request headers for fal, from an allowlist, as `[name, value, name, value, ...]`: the content headers, the
 * headers of the `forwardHeaders` rule (exact names, then the families) and, when a body is relayed, the client's
 * `content-length`; none that the client's `Connection` header names (RFC 9110 §7.6.1). The browser's
 * `Authorization` and cookies never pass.
 */
export function upstreamRequestHeaders(
  input: HeaderSource,
  forward: HeaderRule,
  relayedLength: boolean,
): string[] {
  const out: string[] = [];
  const hop = connectionNamed(input.header("connection"));
  for (const name of CONTENT_HEADERS) {
    const value = input.header(name);
    if (value !== null && (hop === null || !hop.has(name))) out.push(name, value);
  }
  if (relayedLength) {
    const length = input.header("content-length");
    if (length !== null && (hop === null || !hop.has("content-length"))) out.push("content-length", length);
  }
  for (const name of forward.names) {
    const value = input.header(name);
    if (value !== null && (hop === null || !hop.has(name))) out.push(name, value);
  }
  if (forward.prefixes.length > 0) {
    input.forEachHeader((name, value) => {
      if (forward.names.has(name) || name === "x-fal-target-url") return;
      if (hop?.has(name)) return;
      for (const prefix of forward.prefixes) {
        if (name.startsWith(prefix)) {
          out.push(name, value);
          return;
        }
      }
    });
  }
  return out;
}

/**
 * The client's `Accept-Encoding` for a binding that relays fal's bytes as they come (so fal may compress for the
 * client), or `null` when the client sent none or its `Connection` header names it (hop-by-hop, RFC 9110 §7.6.1).
 */
export function endToEndAcceptEncoding(input: HeaderSource): string | null {
  const value = input.header("accept-encoding");
  if (value === null) return null;
  return connectionNamed(input.header("connection"))?.has("accept-encoding") ? null : value;
}

/**
 * The header names a request's `Connection` value names, or `null` when it names none (no header, `keep-alive`,
 * `close`: the common cases cost one comparison).
 */
function connectionNamed(value: string | null): ReadonlySet<string> | null {
  if (value === null || value === "keep-alive" || value === "close") return null;
  const tokens = connectionTokens(value);
  if (tokens === null) return null;
  for (const token of tokens) if (token !== "keep-alive" && token !== "close") return tokens;
  return null;
}

/**
 * True when an answer header from fal may reach the client: on the allowlist (`content-type`, `content-length`,
 * `content-encoding`, `retry-after`, `allow`, the `x-fal-*` family) and not named in fal's `Connection`. `name` is
 * lower-case.
 */
export function relaysResponseHeader(name: string, connection: ReadonlySet<string> | null): boolean {
  if (!RELAYED_RESPONSE_HEADERS.has(name) && !name.startsWith(FAL_FAMILY)) return false;
  return connection === null || !connection.has(name);
}

/** The header names listed in a `Connection` value (they are hop-by-hop too), or `null` when there are none. */
export function connectionTokens(value: string | null | undefined): ReadonlySet<string> | null {
  if (!value) return null;
  const set = new Set<string>();
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name) set.add(name);
  }
  return set;
}

/** What falgate asks fal for when the transport decodes answers itself (fetch): the codings every fetch decodes. */
export const DECODED_ACCEPT_ENCODING = "gzip, deflate, br";

// What fetch implementations (undici, workerd, browsers) decode transparently.
const DECODED_ENCODINGS = new Set(["gzip", "x-gzip", "deflate", "br", "identity"]);

/** True when a fetch has decoded a body with this `content-encoding` (so the header no longer describes it). */
export function isDecodedEncoding(value: string | null): boolean {
  if (value === null) return false;
  const codings = value
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter(Boolean);
  return codings.length > 0 && codings.every((c) => DECODED_ENCODINGS.has(c));
}
