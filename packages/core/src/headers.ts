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

/** Response headers a browser on another origin must be able to read. */
export const EXPOSED_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  "x-fal-request-id",
  "x-fal-request-timeout-type",
  "x-fal-error-type",
  "x-fal-retryable",
  "x-fal-billable-units",
]);

/** Content headers always forwarded as sent (never forced, never rewritten). */
const CONTENT_HEADERS = ["content-type", "accept", "content-length", "user-agent"] as const;

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

/** Builds the upstream request headers from an allowlist: the browser's Authorization and cookies never pass. */
export function upstreamRequestHeaders(
  incoming: Headers,
  forward: ReadonlySet<string>,
  hasBody: boolean,
): Headers {
  const out = new Headers();
  // Only encodings every fetch decodes (and downstreamResponseHeaders strips): a newer fetch that also decodes
  // zstd would otherwise hand the client plain bytes still labelled `content-encoding: zstd`.
  out.set("accept-encoding", UPSTREAM_ACCEPT_ENCODING);
  for (const name of CONTENT_HEADERS) {
    const value = incoming.get(name);
    if (value === null) continue;
    if (name === "content-length" && !hasBody) continue;
    out.set(name, value);
  }
  for (const name of forward) {
    const value = incoming.get(name);
    if (value !== null) out.set(name, value);
  }
  return out;
}

/** Copies upstream response headers minus hop-by-hop, cookies, CORS and (when decoded) content-encoding/length. */
export function downstreamResponseHeaders(upstream: Headers): Headers {
  const out = new Headers();
  const named = connectionTokens(upstream.get("connection"));
  // fetch() has already decoded a compressed body: the length and encoding no longer describe the bytes we send.
  // An encoding fetch does not decode arrives as-is, so its headers must stay.
  const decoded = isDecodedEncoding(upstream.get("content-encoding"));
  upstream.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || RESPONSE_DENY.has(name) || named.has(name)) return;
    if (name.startsWith("access-control-")) return;
    if (decoded && (name === "content-encoding" || name === "content-length")) return;
    out.append(name, value);
  });
  return out;
}

/** What falgate asks fal for: the codings every fetch implementation decodes. */
const UPSTREAM_ACCEPT_ENCODING = "gzip, deflate, br";

// What fetch implementations (undici, workerd, browsers) decode transparently.
const DECODED_ENCODINGS = new Set(["gzip", "x-gzip", "deflate", "br", "identity"]);

function isDecodedEncoding(value: string | null): boolean {
  if (value === null) return false;
  const codings = value
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter(Boolean);
  return codings.length > 0 && codings.every((c) => DECODED_ENCODINGS.has(c));
}

function connectionTokens(value: string | null): Set<string> {
  const set = new Set<string>();
  if (!value) return set;
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name) set.add(name);
  }
  return set;
}
