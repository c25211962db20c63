import { LIMIT_RESPONSE_HEADERS } from "../limits/headers.js";

/** Request headers of the fal wire contract forwarded by default (PROTOCOL.md §2). */
export const DEFAULT_FORWARD_HEADERS: readonly string[] = Object.freeze([
  "x-fal-queue-priority",
  "x-fal-runner-hint",
  "x-fal-request-timeout",
  "x-fal-object-lifecycle-preference",
  "x-fal-object-lifecycle",
  "x-fal-no-retry",
  "x-fal-store-io",
]);

/** Response headers a browser on another origin must be able to read: fal's, and the limits' (what is left). */
export const EXPOSED_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  "x-fal-request-id",
  "x-fal-request-timeout-type",
  "x-fal-error-type",
  "x-fal-retryable",
  "x-fal-billable-units",
  ...LIMIT_RESPONSE_HEADERS,
]);

/** Content headers always forwarded as sent (never forced, never rewritten). */
const CONTENT_HEADERS = ["content-type", "accept", "user-agent"] as const;

// RFC 9110 §7.6.1 plus the usual suspects; also any header named in `Connection`.
const HOP_BY_HOP = new Set([
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

// Never relayed from fal to the browser: cookies would bind to the app's origin, CORS is ours to decide.
const RESPONSE_DENY = new Set(["set-cookie", "set-cookie2", "alt-svc"]);

/**
 * The request headers for fal, from an allowlist, as `[name, value, name, value, ...]`: the content headers, the
 * configured `x-fal-*` headers and, when a body is relayed, the client's `content-length`. The browser's
 * `Authorization` and cookies never pass.
 */
export function upstreamRequestHeaders(
  input: { header(name: string): string | null },
  forward: readonly string[],
  relayedLength: boolean,
): string[] {
  const out: string[] = [];
  for (const name of CONTENT_HEADERS) {
    const value = input.header(name);
    if (value !== null) out.push(name, value);
  }
  if (relayedLength) {
    const length = input.header("content-length");
    if (length !== null) out.push("content-length", length);
  }
  for (const name of forward) {
    const value = input.header(name);
    if (value !== null) out.push(name, value);
  }
  return out;
}

/**
 * True when an answer header from fal may reach the client: not hop-by-hop (nor named in fal's `Connection`), not a
 * cookie, not CORS (falgate decides CORS). `name` is lower-case.
 */
export function relaysResponseHeader(name: string, connection: ReadonlySet<string> | null): boolean {
  if (HOP_BY_HOP.has(name) || RESPONSE_DENY.has(name)) return false;
  if (name.startsWith("access-control-")) return false;
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
