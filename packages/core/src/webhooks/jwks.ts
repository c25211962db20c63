import { FalgateError } from "../errors.js";
import type { FetchLike, Logger } from "../types.js";

/** One usable key of a set: its public bytes (base64url `x`, the identity used to compare sets) and the imported key. */
export interface VerifyKey {
  x: string;
  key: CryptoKey;
}

/** How a verifier reads key sets; resolved once from its options. */
export interface KeySetContext {
  fetch: FetchLike | undefined;
  now: () => number;
  maxAgeMs: number;
  cooldownMs: number;
  timeoutMs: number;
  logger: Logger;
}

/** The cached state of one key set URL. */
interface KeySet {
  keys: readonly VerifyKey[];
  /** When the keys must be fetched again (ms). */
  expiresAt: number;
  /** When the last fetch started, successful or not (ms); rate-limits fetches to one per cooldown. */
  lastAttempt: number;
  /** Why the last fetch failed, while it did. */
  lastError: string | undefined;
  /** The fetch in flight: concurrent callers share it. */
  inflight: Promise<void> | undefined;
}

/** Fewest seconds a key set is cached, whatever its `cache-control` says: a `max-age=0` must not mean a fetch per webhook. */
const MIN_MAX_AGE_MS = 60_000;
/** Largest key set document read. */
const MAX_JWKS_BYTES = 256 * 1024;
/** Most keys tried per signature. */
const MAX_KEYS = 32;
/** The base64url `x` of an Ed25519 public key (32 bytes). */
const ED25519_X = /^[A-Za-z0-9_-]{43}$/;

// Key sets are cached per transport and URL for the whole process, so that a verifier created per call (or one per
// adapter instance) still fetches fal's key set once a day, not once per webhook.
const DEFAULT_FETCH = {};
const caches = new WeakMap<object, Map<string, KeySet>>();

function entryFor(url: string, ctx: KeySetContext): KeySet {
  const scope = ctx.fetch ?? DEFAULT_FETCH;
  let byUrl = caches.get(scope);
  if (!byUrl) {
    byUrl = new Map();
    caches.set(scope, byUrl);
  }
  let entry = byUrl.get(url);
  if (!entry) {
    entry = {
      keys: [],
      expiresAt: 0,
      lastAttempt: Number.NEGATIVE_INFINITY,
      lastError: undefined,
      inflight: undefined,
    };
    byUrl.set(url, entry);
  }
  return entry;
}

/**
 * The keys to verify with now: fetched on first use and again once expired. An expired set whose refresh fails is
 * still used (fal's keys change rarely, an outage of the key set must not refuse every webhook). Throws
 * `invalid_webhook` only when no key was ever obtained.
 */
export async function currentKeys(url: string, ctx: KeySetContext): Promise<readonly VerifyKey[]> {
  const entry = entryFor(url, ctx);
  if (entry.keys.length === 0 || ctx.now() >= entry.expiresAt) await refresh(entry, url, ctx);
  if (entry.keys.length === 0) {
    throw new FalgateError(
      "invalid_webhook",
      `The fal webhook key set could not be fetched from ${url}` +
        (entry.lastError ? ` (${entry.lastError})` : "") +
        "; no key is available to verify the signature.",
    );
  }
  return entry.keys;
}

/**
 * Fetches the key set again unless a fetch started less than the cooldown ago (then it waits for that one if it is
 * still running). Used when no known key verifies a signature: fal may have rotated its keys.
 */
export async function refreshKeys(url: string, ctx: KeySetContext): Promise<readonly VerifyKey[]> {
  const entry = entryFor(url, ctx);
  await refresh(entry, url, ctx);
  return entry.keys;
}

function refresh(entry: KeySet, url: string, ctx: KeySetContext): Promise<void> {
  if (entry.inflight) return entry.inflight;
  const at = ctx.now();
  if (at - entry.lastAttempt < ctx.cooldownMs) return Promise.resolve();
  entry.lastAttempt = at;
  entry.inflight = load(url, ctx, entry.keys)
    .then(
      ({ keys, maxAgeMs }) => {
        entry.keys = keys;
        entry.expiresAt = ctx.now() + maxAgeMs;
        entry.lastError = undefined;
      },
      (error: unknown) => {
        entry.lastError = error instanceof Error ? error.message : String(error);
        ctx.logger.warn("fal webhook key set fetch failed", {
          url,
          error: entry.lastError,
          cachedKeys: entry.keys.length,
        });
      },
    )
    .finally(() => {
      entry.inflight = undefined;
    });
  return entry.inflight;
}

/** Fetches, parses and imports a key set; rejects with a short reason (no key set at all is a failure too). */
async function load(
  url: string,
  ctx: KeySetContext,
  known: readonly VerifyKey[],
): Promise<{ keys: VerifyKey[]; maxAgeMs: number }> {
  const transport = ctx.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await transport(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(ctx.timeoutMs),
    });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    throw new Error(timedOut ? `no answer within ${ctx.timeoutMs} ms` : "network error");
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`HTTP ${response.status}`);
  }
  const document = parseJson(await readText(response));
  const candidates = Array.isArray(document?.keys) ? (document.keys as unknown[]) : undefined;
  if (!candidates) throw new Error('the answer is not a JSON Web Key Set (no "keys" array)');
  const keys: VerifyKey[] = [];
  for (const jwk of candidates) {
    if (keys.length >= MAX_KEYS) break;
    const x = ed25519X(jwk);
    if (x === undefined || keys.some((k) => k.x === x)) continue;
    const reused = known.find((k) => k.x === x);
    if (reused) {
      keys.push(reused);
      continue;
    }
    try {
      // Only the key material is imported: `alg` spellings (`EdDSA`, `Ed25519`) differ between runtimes' checks.
      const key = await crypto.subtle.importKey(
        "jwk",
        { kty: "OKP", crv: "Ed25519", x },
        { name: "Ed25519" },
        false,
        ["verify"],
      );
      keys.push({ x, key });
    } catch {
      // A key this runtime cannot import is skipped; the others may still verify.
    }
  }
  if (keys.length === 0) throw new Error("the key set holds no usable OKP Ed25519 key");
  return { keys, maxAgeMs: maxAge(response.headers.get("cache-control"), ctx.maxAgeMs) };
}

/** The `x` of an OKP Ed25519 signing key, or `undefined` for any other key. */
function ed25519X(jwk: unknown): string | undefined {
  if (typeof jwk !== "object" || jwk === null) return undefined;
  const { kty, crv, x, use } = jwk as Record<string, unknown>;
  if (kty !== "OKP" || crv !== "Ed25519" || typeof x !== "string" || !ED25519_X.test(x)) return undefined;
  if (use !== undefined && use !== "sig") return undefined;
  return x;
}

/** How long to keep a key set: its `max-age` when shorter than ours, never under a minute. */
function maxAge(cacheControl: string | null, ceilingMs: number): number {
  if (!cacheControl) return ceilingMs;
  const directives = cacheControl.toLowerCase();
  if (/(^|[\s,])(no-store|no-cache)([\s,=]|$)/.test(directives)) return Math.min(MIN_MAX_AGE_MS, ceilingMs);
  const match = /(^|[\s,])max-age\s*=\s*"?(\d+)"?/.exec(directives);
  if (!match) return ceilingMs;
  return Math.min(ceilingMs, Math.max(MIN_MAX_AGE_MS, Number(match[2]) * 1000));
}

async function readText(response: Response): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > MAX_JWKS_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`the key set is over ${MAX_JWKS_BYTES} bytes`);
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_JWKS_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`the key set is over ${MAX_JWKS_BYTES} bytes`);
    }
    chunks.push(value);
  }
  const decoder = new TextDecoder();
  return chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode();
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
