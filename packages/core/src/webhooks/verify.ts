import { FalgateError } from "../errors.js";
import { consoleLogger } from "../logger.js";
import { DEFAULTS } from "../options/defaults.js";
import { secureUrl } from "../policy/secure-url.js";
import { createMemoryStore } from "../store/memory.js";
import type { Store } from "../store/types.js";
import { currentKeys, type KeySetContext, refreshKeys, type VerifyKey } from "./jwks.js";
import type { FalWebhookOptions, FalWebhookPayload, FalWebhookVerifier } from "./types.js";

/** fal's documented key set of webhook signing keys. */
export const FAL_WEBHOOK_JWKS_URL: string = DEFAULTS.webhooks.jwksUrl;

/** The four headers fal signs a webhook with. */
export const FAL_WEBHOOK_HEADERS = Object.freeze({
  requestId: "x-fal-webhook-request-id",
  userId: "x-fal-webhook-user-id",
  timestamp: "x-fal-webhook-timestamp",
  signature: "x-fal-webhook-signature",
} as const);

/** Prefix of the replay entries in the store. */
const REPLAY_PREFIX = "webhook:";
/** Printable ASCII, as ids are written into the signed message line by line. */
const ID = /^[\x20-\x7e]{1,512}$/;
const TIMESTAMP = /^\d{1,15}$/;
/** An Ed25519 signature is 64 bytes: 128 hex digits. */
const SIGNATURE = /^[0-9a-fA-F]{128}$/;

interface Resolved {
  jwksUrl: string;
  toleranceMs: number;
  store: Pick<Store, "addOnce">;
  maxBodySize: number;
  keys: KeySetContext;
}

let sharedStore: Store | undefined;

/**
 * Validates the options once and returns a verifier to call per request (what the framework wrappers use).
 * Throws a `TypeError` naming a bad option.
 * @example
 * const verify = createFalWebhookVerifier({ store: redisStore });
 * const event = await verify(request); // FalWebhookPayload, or throws FalgateError("invalid_webhook")
 */
export function createFalWebhookVerifier(options: FalWebhookOptions = {}): FalWebhookVerifier {
  const resolved = resolveOptions(options);
  return (request) => verify(request, resolved);
}

const verifiers = new WeakMap<FalWebhookOptions, FalWebhookVerifier>();

/**
 * Verifies a fal webhook delivery and resolves with its parsed body: the four `x-fal-webhook-*` headers, the
 * timestamp window, the Ed25519 signature over `request_id \n user_id \n timestamp \n sha256hex(body)` with fal's
 * keys (`options.jwksUrl`), and that this delivery was not seen before. Rejects with a `FalgateError`:
 * `invalid_webhook` (401) with the reason, `method_not_allowed` for anything but POST, `internal_error` when the body
 * was already read or the replay store failed. Reads the body itself: pass the request untouched.
 * @example
 * export async function POST(request: Request) {
 *   try {
 *     const event = await verifyFalWebhook(request);
 *     if (event.status === "OK") await save(event.request_id, event.payload);
 *     return new Response(null, { status: 204 });
 *   } catch (error) {
 *     return errorResponse(error);
 *   }
 * }
 */
export function verifyFalWebhook<T = unknown>(
  request: Request,
  options: FalWebhookOptions = {},
): Promise<FalWebhookPayload<T>> {
  let verifier = verifiers.get(options);
  if (!verifier) {
    verifier = createFalWebhookVerifier(options);
    verifiers.set(options, verifier);
  }
  return verifier<T>(request);
}

function resolveOptions(options: FalWebhookOptions): Resolved {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("falgate: webhook options must be an object");
  }
  const jwksUrl = options.jwksUrl ?? FAL_WEBHOOK_JWKS_URL;
  checkJwksUrl(jwksUrl);
  const d = DEFAULTS.webhooks;
  const tolerance = range("tolerance", options.tolerance, d.tolerance, 1, 3600);
  const maxBodySize = range("maxBodySize", options.maxBodySize, d.maxBodySize, 1, 2 ** 31);
  const jwksMaxAge = range("jwksMaxAge", options.jwksMaxAge, d.jwksMaxAge, 60, 86_400);
  const jwksCooldown = range("jwksCooldown", options.jwksCooldown, d.jwksCooldown, 0, 3600);
  const jwksTimeout = range("jwksTimeout", options.jwksTimeout, d.jwksTimeout, 1, 120_000);
  for (const name of ["fetch", "now"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw new TypeError(`falgate: option \`${name}\` must be a function`);
    }
  }
  if (options.store !== undefined && typeof options.store?.addOnce !== "function") {
    throw new TypeError("falgate: option `store` must have an `addOnce(key, ttlMs)` method");
  }
  if (
    options.logger !== undefined &&
    (typeof options.logger?.warn !== "function" || typeof options.logger?.error !== "function")
  ) {
    throw new TypeError("falgate: option `logger` must have `warn` and `error` methods");
  }
  sharedStore ??= createMemoryStore();
  return {
    jwksUrl,
    toleranceMs: tolerance * 1000,
    store: options.store ?? sharedStore,
    maxBodySize,
    keys: {
      fetch: options.fetch,
      now: options.now ?? Date.now,
      maxAgeMs: jwksMaxAge * 1000,
      cooldownMs: jwksCooldown * 1000,
      timeoutMs: jwksTimeout,
      logger: options.logger ?? consoleLogger(),
    },
  };
}

function range(name: string, value: unknown, fallback: number, min: number, max: number): number {
  const n = value ?? fallback;
  if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max) {
    throw new TypeError(
      `falgate: option \`${name}\` must be a number from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return n;
}

/** `https:`, or `http:` on loopback only: whoever can change the key set can sign webhooks. */
function checkJwksUrl(value: unknown): void {
  if (typeof value !== "string" || !secureUrl(value)) {
    throw new TypeError(
      "falgate: option `jwksUrl` must be an https:// URL (http:// only on localhost/127.0.0.1/[::1])",
    );
  }
}

function refuse(message: string): FalgateError {
  return new FalgateError("invalid_webhook", message);
}

/** Quotes an untrusted header value for a message, cut short. */
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

async function verify<T>(request: Request, o: Resolved): Promise<FalWebhookPayload<T>> {
  if (request.method !== "POST") {
    throw new FalgateError("method_not_allowed", `fal delivers webhooks with POST, not ${request.method}.`, {
      headers: { allow: "POST" },
    });
  }
  const requestId = header(request, FAL_WEBHOOK_HEADERS.requestId, ID, "a printable id");
  const userId = header(request, FAL_WEBHOOK_HEADERS.userId, ID, "a printable id");
  const timestamp = header(request, FAL_WEBHOOK_HEADERS.timestamp, TIMESTAMP, "unix seconds (digits only)");
  const signature = header(request, FAL_WEBHOOK_HEADERS.signature, SIGNATURE, "128 hex digits (Ed25519)");

  const now = o.keys.now();
  const skewMs = now - Number(timestamp) * 1000;
  if (Math.abs(skewMs) > o.toleranceMs) {
    const seconds = Math.round(Math.abs(skewMs) / 1000);
    throw refuse(
      skewMs > 0
        ? `The webhook timestamp is ${seconds} s old, outside the ${o.toleranceMs / 1000} s tolerance (stale or replayed).`
        : `The webhook timestamp is ${seconds} s in the future, outside the ${o.toleranceMs / 1000} s tolerance (check the clock).`,
    );
  }

  const body = await readBody(request, o.maxBodySize);
  const digest = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", body)));
  const message = new TextEncoder().encode(`${requestId}\n${userId}\n${timestamp}\n${digest}`);
  const signatureBytes = fromHex(signature);

  let keys = await currentKeys(o.jwksUrl, o.keys);
  if (!(await anyVerifies(keys, signatureBytes, message))) {
    // fal may have rotated its keys since the set was cached: fetch it again (at most once per cooldown) and try
    // the keys that are new.
    const tried = new Set(keys.map((k) => k.x));
    keys = (await refreshKeys(o.jwksUrl, o.keys)).filter((k) => !tried.has(k.x));
    if (!(await anyVerifies(keys, signatureBytes, message))) {
      throw refuse(
        `The webhook signature does not verify with any key of the fal key set (${tried.size + keys.length} tried): ` +
          "the body or headers were changed, or it was not signed by fal.",
      );
    }
  }

  const payload = parsePayload<T>(body);

  // Only a verified delivery is remembered, so forged requests cannot fill the store or block a real one. fal signs
  // each retry afresh (new timestamp), so the key is the request id with its timestamp: a captured delivery cannot
  // be replayed, while fal's retry after a failed handler still gets through. The entry lives as long as the
  // timestamp is inside the window; after that the timestamp check refuses the replay anyway.
  const ttlMs = Math.max(1000, Number(timestamp) * 1000 + o.toleranceMs - now + 1000);
  let first: boolean;
  try {
    first = await o.store.addOnce(`${REPLAY_PREFIX}${requestId}:${timestamp}`, ttlMs);
  } catch (error) {
    o.keys.logger.error("fal webhook replay store failed", {
      error: error instanceof Error ? error.message : String(error),
    });
    throw new FalgateError("internal_error", "The webhook replay store is unavailable; fal will retry.", {
      cause: error,
    });
  }
  if (!first) {
    throw refuse(`The webhook delivery ${quote(requestId)} at ${timestamp} was already received (replay).`);
  }
  return payload;
}

function header(request: Request, name: string, pattern: RegExp, expected: string): string {
  const value = request.headers.get(name);
  if (value === null || value === "") throw refuse(`The webhook request has no ${name} header.`);
  if (!pattern.test(value)) throw refuse(`The ${name} header must be ${expected}, got ${quote(value)}.`);
  return value;
}

/** The raw body, byte for byte, refused past `max` bytes before it is read in full. */
async function readBody(request: Request, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = request.headers.get("content-length");
  const tooLarge = () => refuse(`The webhook body exceeds the ${max} byte limit (option \`maxBodySize\`).`);
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > max) {
    await request.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (request.bodyUsed) {
    throw new FalgateError(
      "internal_error",
      "The webhook body was already read (parsed) before verification; the signature covers the raw bytes, so pass " +
        "the request untouched (see docs/operating.md#webhooks).",
    );
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

async function anyVerifies(
  keys: readonly VerifyKey[],
  signature: Uint8Array<ArrayBuffer>,
  message: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  for (const { key } of keys) {
    try {
      if (await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message)) return true;
    } catch {
      // A key the runtime refuses to use verifies nothing; try the next.
    }
  }
  return false;
}

/** The body as a fal webhook: JSON with `request_id` and `status` `OK`/`ERROR`. */
function parsePayload<T>(body: Uint8Array): FalWebhookPayload<T> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw refuse("The webhook body is signed but is not valid UTF-8 JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw refuse("The webhook body is signed but is not a JSON object.");
  }
  const event = value as Record<string, unknown>;
  if (typeof event.request_id !== "string" || (event.status !== "OK" && event.status !== "ERROR")) {
    throw refuse(
      'The webhook body is signed but is not a fal webhook payload (it needs a string request_id and status "OK" or "ERROR").',
    );
  }
  if (typeof event.gateway_request_id !== "string") event.gateway_request_id = event.request_id;
  if (!("payload" in event)) event.payload = null;
  if (event.status === "ERROR" && typeof event.error !== "string") event.error = "Unknown error";
  return event as unknown as FalWebhookPayload<T>;
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

function fromHex(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
