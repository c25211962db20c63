import { errors, type JWSAlgorithm, type JWTPayload, jwtVerify, SignJWT } from "jose";
import { FalgateError, isFalgateError } from "../errors.js";
import { DEFAULTS } from "../options/defaults.js";
import { createMemoryStore } from "../store/memory.js";
import type { Store } from "../store/types.js";
import type { FalgateEnv } from "../types.js";
import { appCovered, normaliseAppId } from "./apps.js";
import { type ResolvedKey, resolveKey, secretBytes, type TokenKey, validateKey } from "./keys.js";

/** The `typ` header of every falgate token (distinguishes them from any other JWT signed with the same key). */
export const TOKEN_TYPE = "falgate+jwt";
/** Hard cap on a token's lifetime, in seconds. */
export const MAX_TOKEN_TTL = 300;
/** Hard cap on the verification clock tolerance, in seconds. */
export const MAX_CLOCK_TOLERANCE = 5;
/** Most apps one token may name. */
export const MAX_TOKEN_APPS = 16;
/** Most endpoint patterns (`Principal.endpoints`) one token may carry. */
export const MAX_TOKEN_ENDPOINTS = 64;

/** Options of falgate's own short-lived tokens (the realtime tunnel). */
export interface TokenOptions {
  /**
   * HS256 secret, at least 32 bytes. Falls back to `env.FALGATE_TOKEN_SECRET` (read when first needed,
   * never at import). Ignored when `keys` is set.
   */
  secret?: string | Uint8Array;
  /**
   * Keys for rotation: the first one signs, every one listed verifies. Rotate by putting the new key
   * first and keeping the old one until its last token expired (`ttl`).
   */
  keys?: readonly TokenKey[];
  /** The `iss` claim. @default "falgate" */
  issuer?: string;
  /** The `aud` claim. @default "falgate:realtime" */
  audience?: string;
  /** Lifetime of a minted token in seconds, at most 300. @default 60 */
  ttl?: number;
  /** Oldest `iat` accepted, in seconds, at most 300. @default 300 */
  maxTokenAge?: number;
  /** Clock skew tolerated on `exp`/`nbf`/`iat`, in seconds, at most 5. @default 5 */
  clockTolerance?: number;
  /**
   * Accept each token once (by `jti`, remembered in the instance's `store`: share a Redis or Durable Object store for
   * single use across instances); the official client fetches a fresh token per connection. @default true
   */
  singleUse?: boolean;
}

/** The claims of a verified falgate token. */
export interface FalgateTokenClaims {
  iss: string;
  aud: string;
  /** The principal id the token was minted for. */
  sub: string;
  /** App ids (`owner/app[/path]`) the token opens. */
  apps: string[];
  /**
   * The principal's own endpoint limits (`Principal.endpoints` when the token was minted): the tunnel applies
   * them like the HTTP proxy does, so a token never opens more than its holder could call. Absent: no narrowing.
   */
  endpoints?: string[];
  iat: number;
  exp: number;
  jti: string;
}

/** A freshly minted token. */
export interface IssuedToken {
  token: string;
  /** Expiry, seconds since the epoch (the `exp` claim). */
  expiresAt: number;
  jti: string;
}

/** What a verification must also establish. */
export interface VerifyExpectations {
  /** The app id being opened (`owner/app[/path]`): the token must cover it, or `forbidden`. */
  app?: string;
  /** Record the `jti` as used (single-use tokens). @default the issuer's `singleUse` */
  consume?: boolean;
}

/** Mints and verifies falgate tokens with one set of keys. */
export interface TokenIssuer {
  /** Mints a token for `subject` and `apps`; `ttl` (seconds) is clamped to the configured `ttl`. */
  issue(input: {
    subject: string;
    apps: readonly string[];
    ttl?: number;
    /** The principal's endpoint patterns (`Principal.endpoints`), carried as a claim and enforced by the tunnel. */
    endpoints?: readonly string[];
  }): Promise<IssuedToken>;
  /** Verifies a token; throws a `FalgateError` (`invalid_token`, `forbidden`) when it must be refused. */
  verify(token: string, expect?: VerifyExpectations): Promise<FalgateTokenClaims>;
  /**
   * Spends a verified token's single-use id (what `verify` does with `consume`), for a caller that verifies first
   * and spends only once it will act on the token (the tunnel: after its checks, before its limits). Does nothing
   * when `singleUse` is off; throws `invalid_token` when the id was already spent, `internal_error` when the store
   * failed.
   */
  spend(claims: FalgateTokenClaims): Promise<void>;
}

interface IssuerSettings {
  keys: readonly TokenKey[];
  issuer: string;
  audience: string;
  ttl: number;
  maxTokenAge: number;
  clockTolerance: number;
  singleUse: boolean;
  store: Pick<Store, "addOnce">;
}

function fail(option: string, message: string): never {
  throw new TypeError(`falgate: option \`${option}\` ${message}`);
}

function seconds(option: string, value: number | undefined, fallback: number, max: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    fail(option, `must be a number of seconds between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

function label(option: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || value === "") fail(option, "must be a non-empty string");
  return value;
}

/** Validates everything but the key material; shared by the issuer and the per-env resolver. */
function settings(
  options: TokenOptions,
  keys: readonly TokenKey[],
  store: Pick<Store, "addOnce">,
): IssuerSettings {
  if (options.singleUse !== undefined && typeof options.singleUse !== "boolean")
    fail("tokens.singleUse", "must be a boolean");
  const d = DEFAULTS.tokens;
  return {
    keys,
    issuer: label("tokens.issuer", options.issuer, d.issuer),
    audience: label("tokens.audience", options.audience, d.audience),
    ttl: seconds("tokens.ttl", options.ttl, d.ttl, MAX_TOKEN_TTL),
    maxTokenAge: seconds("tokens.maxTokenAge", options.maxTokenAge, d.maxTokenAge, MAX_TOKEN_TTL),
    clockTolerance: seconds(
      "tokens.clockTolerance",
      options.clockTolerance,
      d.clockTolerance,
      MAX_CLOCK_TOLERANCE,
      0,
    ),
    singleUse: options.singleUse ?? d.singleUse,
    store,
  };
}

function explicitKeys(options: TokenOptions): readonly TokenKey[] | null {
  if (options.keys !== undefined) {
    if (!Array.isArray(options.keys) || options.keys.length === 0)
      fail("tokens.keys", "must be a non-empty array");
    const keys = options.keys.map((key, i) => validateKey(key, `tokens.keys[${i}]`));
    const kids = new Set(keys.map((k) => k.kid));
    if (kids.size !== keys.length) fail("tokens.keys", "has two keys with the same `kid`");
    return keys;
  }
  if (options.secret !== undefined) {
    secretBytes(options.secret, "tokens.secret");
    return [{ kid: "default", alg: "HS256", secret: options.secret }];
  }
  return null;
}

function envKeys(env: FalgateEnv): readonly TokenKey[] | null {
  const secret = env.FALGATE_TOKEN_SECRET;
  if (secret === undefined || secret === "") return null;
  secretBytes(secret, "FALGATE_TOKEN_SECRET (env)");
  return [{ kid: "default", alg: "HS256", secret: secret as string }];
}

/**
 * Creates a token issuer/verifier. Keys come from `options.keys`, `options.secret`, then
 * `env.FALGATE_TOKEN_SECRET`; a missing or short secret throws a `TypeError` naming the option. Used `jti`s are
 * remembered in `store` (default: in memory, per process).
 * @example
 * const tokens = createTokenIssuer({ secret: process.env.FALGATE_TOKEN_SECRET });
 * const { token } = await tokens.issue({ subject: user.id, apps: ["fal-ai/fast-lcm-diffusion"] });
 */
export function createTokenIssuer(
  options: TokenOptions = {},
  { env = {}, store }: { env?: FalgateEnv; store?: Pick<Store, "addOnce"> } = {},
): TokenIssuer {
  const keys = explicitKeys(options) ?? envKeys(env);
  if (keys === null)
    fail("tokens.secret", "is required (or `tokens.keys`, or the FALGATE_TOKEN_SECRET env variable)");
  return issuerFrom(settings(options, keys, store ?? createMemoryStore()));
}

/**
 * Resolves the issuer for an env (Workers only see env per request): `null` when no key is configured
 * anywhere, one cached issuer per secret otherwise. Options are validated now, the env secret on first use.
 */
export function createTokenIssuerResolver(
  options: TokenOptions,
  store: Pick<Store, "addOnce">,
): (env: FalgateEnv) => TokenIssuer | null {
  const keys = explicitKeys(options);
  const base = settings(options, keys ?? [], store);
  if (keys !== null) {
    const issuer = issuerFrom(base);
    return () => issuer;
  }
  let cached: { secret: unknown; issuer: TokenIssuer } | null = null;
  return (env) => {
    const secret = env.FALGATE_TOKEN_SECRET;
    if (cached !== null && cached.secret === secret) return cached.issuer;
    const fromEnv = envKeys(env);
    if (fromEnv === null) return null;
    // One store across secret changes: a jti stays used whichever key signed it.
    cached = { secret, issuer: issuerFrom({ ...base, keys: fromEnv }) };
    return cached.issuer;
  };
}

function issuerFrom(s: IssuerSettings): TokenIssuer {
  let resolved: Promise<ResolvedKey[]> | null = null;
  const keysReady = (): Promise<ResolvedKey[]> => {
    resolved ??= Promise.all(s.keys.map(resolveKey)).catch((error: unknown) => {
      resolved = null;
      throw new FalgateError("internal_error", "A falgate token key could not be imported.", {
        cause: error,
      });
    });
    return resolved;
  };
  const algorithms = [...new Set(s.keys.map((k) => k.alg ?? "HS256"))] as JWSAlgorithm[];

  return {
    async issue({ subject, apps, ttl, endpoints }) {
      if (typeof subject !== "string" || subject === "")
        throw new TypeError("falgate: token subject must be a non-empty string");
      if (!Array.isArray(apps) || apps.length === 0 || apps.length > MAX_TOKEN_APPS) {
        throw new TypeError(`falgate: a token needs 1 to ${MAX_TOKEN_APPS} apps`);
      }
      const scoped = apps.map((app) => {
        const id = normaliseAppId(app);
        if (id === null) throw new TypeError(`falgate: not an app id: ${JSON.stringify(app)}`);
        return id;
      });
      if (endpoints !== undefined && !validEndpoints(endpoints)) {
        throw new TypeError(
          `falgate: token endpoints must be at most ${MAX_TOKEN_ENDPOINTS} endpoint patterns`,
        );
      }
      const signer = (await keysReady())[0];
      if (!signer?.sign)
        throw new FalgateError(
          "internal_error",
          "The first falgate token key has no private key to sign with.",
        );
      const lifetime = Math.max(1, Math.min(Math.floor(ttl ?? s.ttl), s.ttl));
      const iat = Math.floor(Date.now() / 1000);
      const jti = crypto.randomUUID();
      const token = await new SignJWT(
        endpoints === undefined ? { apps: scoped } : { apps: scoped, endpoints: [...endpoints] },
      )
        .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: TOKEN_TYPE })
        .setIssuer(s.issuer)
        .setAudience(s.audience)
        .setSubject(subject)
        .setIssuedAt(iat)
        .setExpirationTime(iat + lifetime)
        .setJti(jti)
        .sign(signer.sign);
      return { token, expiresAt: iat + lifetime, jti };
    },

    async verify(token, expect = {}) {
      if (typeof token !== "string" || token === "" || token.length > 4096)
        throw invalid("Missing or malformed token.");
      const keys = await keysReady();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(
          token,
          (header) => {
            const key = keys.find((k) => k.kid === header.kid);
            // Pin the algorithm per key, not just per set: an HS256 token naming an EdDSA kid must fail.
            if (!key || key.alg !== header.alg) throw new errors.JWKSNoMatchingKey();
            return key.verify;
          },
          {
            algorithms,
            issuer: s.issuer,
            audience: s.audience,
            typ: TOKEN_TYPE,
            maxTokenAge: s.maxTokenAge,
            clockTolerance: s.clockTolerance,
            requiredClaims: ["exp", "iat", "sub", "jti"],
          },
        ));
      } catch (error) {
        throw invalid(describe(error), error);
      }
      const claims = checkClaims(payload, s);
      if (expect.app !== undefined && !appCovered(claims.apps, expect.app)) {
        throw new FalgateError("forbidden", `This token does not open ${expect.app}.`);
      }
      if (expect.consume ?? s.singleUse) await spend(s, claims);
      return claims;
    },

    async spend(claims) {
      if (s.singleUse) await spend(s, claims);
    },
  };
}

async function spend(s: IssuerSettings, claims: FalgateTokenClaims): Promise<void> {
  let first: boolean;
  try {
    // Remembered until the token can no longer verify (expiry plus tolerance), relative to now.
    const ttl = Math.max(1, (claims.exp + s.clockTolerance) * 1000 - Date.now());
    first = await s.store.addOnce(`jti:${claims.jti}`, ttl);
  } catch (error) {
    if (isFalgateError(error)) throw error;
    throw new FalgateError("internal_error", "The token replay store failed.", { cause: error });
  }
  if (!first) throw invalid("This token was already used; fetch a new one.");
}

function checkClaims(payload: JWTPayload, s: IssuerSettings): FalgateTokenClaims {
  const { iss, aud, sub, iat, exp, jti } = payload;
  const apps = (payload as { apps?: unknown }).apps;
  if (
    typeof iss !== "string" ||
    typeof aud !== "string" ||
    typeof sub !== "string" ||
    sub === "" ||
    typeof iat !== "number" ||
    typeof exp !== "number" ||
    typeof jti !== "string" ||
    jti === ""
  ) {
    throw invalid("Token claims are malformed.");
  }
  // Belt and braces with maxTokenAge: a token minted with a longer life than falgate ever issues is forged or misconfigured.
  if (exp - iat > MAX_TOKEN_TTL + s.clockTolerance) throw invalid("Token lifetime exceeds the maximum.");
  if (!Array.isArray(apps) || apps.length === 0 || apps.length > MAX_TOKEN_APPS)
    throw invalid("Token names no apps.");
  const scoped: string[] = [];
  for (const app of apps) {
    const id = normaliseAppId(app);
    if (id === null || id !== app) throw invalid("Token names a malformed app id.");
    scoped.push(id);
  }
  const endpoints = (payload as { endpoints?: unknown }).endpoints;
  if (endpoints !== undefined && !validEndpoints(endpoints)) throw invalid("Token endpoints are malformed.");
  return { iss, aud, sub, apps: scoped, ...(endpoints === undefined ? {} : { endpoints }), iat, exp, jti };
}

/** Shape check of the `endpoints` claim (the patterns themselves are compiled where they are applied). */
function validEndpoints(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length <= MAX_TOKEN_ENDPOINTS &&
    value.every((p) => typeof p === "string" && p.length > 0 && p.length <= 256)
  );
}

function invalid(message: string, cause?: unknown): FalgateError {
  return new FalgateError("invalid_token", message, cause === undefined ? {} : { cause });
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "Token expired; fetch a new one.";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iat") return "Token is too old or issued in the future.";
    if (error.claim === "nbf") return "Token is not valid yet.";
    return `Token claim \`${error.claim}\` is invalid.`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return "Token algorithm is not accepted.";
  }
  if (error instanceof errors.JWKSNoMatchingKey) return "Token key id is unknown.";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "Token signature is invalid.";
  return "Token is malformed.";
}
