import type { JSONWebKeySet, JWTVerifyOptions } from "jose";
import { consoleLogger } from "../logger.js";
import { secureUrl } from "../policy/secure-url.js";
import type { FetchLike, Logger } from "../types.js";
import { BEARER_JWT_DEFAULTS } from "./defaults.js";
import { type KeySource, localKeySet, remoteKeySet, secretKey, toBytes } from "./keys.js";
import { namedCookie } from "./token.js";
import type {
  BearerJwtOptions,
  CookieTokenReader,
  JwtAlgorithm,
  JwtClaims,
  PrincipalResult,
} from "./types.js";

/** The options of one `bearerJwt`, validated and resolved once. */
export interface ResolvedBearer<T extends JwtClaims> {
  keys: KeySource;
  /** What jose checks: algorithms, issuer, audience, times, required claims, `typ`. */
  verify: JWTVerifyOptions;
  /** The key source, for messages: `the key set at https://…` or `the secret`. */
  keySource: string;
  principal: ((claims: T, request: Request) => PrincipalResult | Promise<PrincipalResult>) | null;
  authorizedParties: ReadonlySet<string> | null;
  cookie: CookieTokenReader | null;
  /** Where the token is looked for, for the "missing token" message. */
  cookieName: string | null;
  logger: Logger;
  maxTokenLength: number;
}

const ASYMMETRIC: ReadonlySet<string> = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
]);
const HMAC: ReadonlySet<string> = new Set(["HS256", "HS384", "HS512"]);
/** RFC 7230 token characters: what a cookie name may contain. */
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function fail(option: string, message: string): never {
  throw new TypeError(`falgate: bearerJwt option \`${option}\` ${message}`);
}

/** Validates every option once (a bad one throws a `TypeError` naming it) and resolves the defaults. */
export function resolveBearerOptions<T extends JwtClaims>(options: BearerJwtOptions<T>): ResolvedBearer<T> {
  if (options === null || typeof options !== "object") fail("options", "must be an object");
  const d = BEARER_JWT_DEFAULTS;
  const logger = options.logger ?? consoleLogger();
  if (typeof logger?.warn !== "function" || typeof logger.error !== "function") {
    fail("logger", "must have `warn` and `error` methods");
  }

  const sources = (["jwksUrl", "jwks", "secret"] as const).filter((name) => options[name] !== undefined);
  if (sources.length !== 1) {
    fail(
      sources.length === 0 ? "jwksUrl" : sources.join("` / `"),
      sources.length === 0
        ? "(or `jwks`, or `secret`) is required: where the keys that sign the tokens come from"
        : "are exclusive: give exactly one key source",
    );
  }
  const symmetric = options.secret !== undefined;
  const algorithms = checkAlgorithms(options.algorithms, symmetric);

  let keys: KeySource;
  let keySource: string;
  if (options.jwksUrl !== undefined) {
    const url = checkJwksUrl(options.jwksUrl);
    keys = remoteKeySet({
      url,
      fetch: checkFetch(options.fetch),
      timeout: duration("jwksTimeout", options.jwksTimeout, d.jwksTimeout, 1, 60_000),
      cooldown: duration("jwksCooldown", options.jwksCooldown, d.jwksCooldown, 0, 3_600_000),
      cacheMaxAge: duration("jwksCacheMaxAge", options.jwksCacheMaxAge, d.jwksCacheMaxAge, 0, 86_400_000),
      staleIfError: duration(
        "jwksStaleIfError",
        options.jwksStaleIfError,
        d.jwksStaleIfError,
        0,
        7 * 86_400_000,
      ),
      logger,
    });
    keySource = `the key set at ${url.href}`;
  } else if (options.jwks !== undefined) {
    keys = localKeySet(checkJwks(options.jwks));
    keySource = "the configured key set";
  } else {
    keys = secretKey(checkSecret(options.secret), d.minSecretBytes);
    keySource = "the shared secret";
  }
  for (const name of [
    "fetch",
    "jwksTimeout",
    "jwksCooldown",
    "jwksCacheMaxAge",
    "jwksStaleIfError",
  ] as const) {
    if (options.jwksUrl === undefined && options[name] !== undefined)
      fail(name, "only applies with `jwksUrl`");
  }

  const issuer = checkClaimValues("issuer", options.issuer);
  const audience = checkClaimValues("audience", options.audience);
  const authorizedParties =
    options.authorizedParties === undefined
      ? null
      : new Set(checkStrings("authorizedParties", options.authorizedParties));
  if (issuer === null && audience === null && authorizedParties === null) {
    fail(
      "issuer",
      "and `audience` cannot both be `false` without `authorizedParties`: any token signed by these keys, for any " +
        "app, would be accepted",
    );
  }
  const principal = options.principal ?? null;
  if (principal !== null && typeof principal !== "function") fail("principal", "must be a function");
  const required = new Set<string>(d.requiredClaims);
  for (const claim of checkStrings("requiredClaims", options.requiredClaims ?? [], true)) required.add(claim);
  // The default principal is the subject: a token without one names nobody.
  if (principal === null) required.add("sub");
  const clockTolerance = duration(
    "clockTolerance",
    options.clockTolerance,
    d.clockTolerance,
    0,
    d.maxClockTolerance,
    "seconds",
  );
  const maxTokenAge =
    options.maxTokenAge === undefined
      ? undefined
      : duration("maxTokenAge", options.maxTokenAge, 0, 1, 31 * 86_400, "seconds");
  if (options.typ !== undefined && (typeof options.typ !== "string" || options.typ === "")) {
    fail("typ", "must be a non-empty string");
  }
  const { reader, name } = checkCookie(options.cookie);

  return {
    keys,
    keySource,
    verify: {
      algorithms: [...algorithms],
      ...(issuer === null ? {} : { issuer: [...issuer] }),
      ...(audience === null ? {} : { audience: [...audience] }),
      clockTolerance,
      ...(maxTokenAge === undefined ? {} : { maxTokenAge }),
      requiredClaims: [...required],
      ...(options.typ === undefined ? {} : { typ: options.typ }),
    },
    principal,
    authorizedParties,
    cookie: reader,
    cookieName: name,
    logger,
    maxTokenLength: d.maxTokenLength,
  };
}

function checkAlgorithms(value: readonly JwtAlgorithm[] | undefined, symmetric: boolean): readonly string[] {
  const d = BEARER_JWT_DEFAULTS.algorithms;
  if (value === undefined) return symmetric ? d.secret : d.jwks;
  if (!Array.isArray(value) || value.length === 0) fail("algorithms", "must be a non-empty array");
  for (const alg of value as unknown[]) {
    if (typeof alg !== "string" || (!ASYMMETRIC.has(alg) && !HMAC.has(alg))) {
      fail("algorithms", `has an unknown or unsafe algorithm ${JSON.stringify(alg)} (never "none")`);
    }
    if (symmetric && !HMAC.has(alg)) {
      fail("algorithms", `has ${alg}, which a shared \`secret\` cannot verify (HS256, HS384, HS512 only)`);
    }
    if (!symmetric && HMAC.has(alg)) {
      fail("algorithms", `has ${alg}: HMAC algorithms need a shared \`secret\`, never a key set`);
    }
  }
  return [...new Set(value)];
}

/** `https:`, or `http:` on loopback only: whoever can change the key set can sign tokens. */
function checkJwksUrl(value: string | URL): URL {
  const url = secureUrl(value);
  if (!url) {
    fail("jwksUrl", "must be an https:// URL (http:// only on localhost/127.0.0.1/[::1])");
  }
  if (url.username !== "" || url.password !== "") fail("jwksUrl", "must not carry credentials");
  return url;
}

function checkJwks(value: JSONWebKeySet): JSONWebKeySet {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    fail("jwks", "must be a JSON Web Key Set with a `keys` array");
  for (const [i, key] of keys.entries()) {
    if (key === null || typeof key !== "object") fail(`jwks.keys[${i}]`, "must be a JWK object");
    const jwk = key as Record<string, unknown>;
    if (jwk.kty === "oct") fail(`jwks.keys[${i}]`, "is a symmetric key: give a shared key as `secret`");
    if (jwk.d !== undefined || jwk.priv !== undefined) {
      fail(
        `jwks.keys[${i}]`,
        "is a private key: a verifier only needs the public part (drop `d` and friends)",
      );
    }
  }
  return value;
}

function checkSecret(value: BearerJwtOptions["secret"]): NonNullable<BearerJwtOptions["secret"]> {
  if (typeof value === "function") return value;
  if (typeof value !== "string" && !(value instanceof Uint8Array)) {
    fail("secret", "must be a string, a Uint8Array, or a function of the env");
  }
  if (toBytes(value).byteLength < BEARER_JWT_DEFAULTS.minSecretBytes) {
    fail("secret", `must be at least ${BEARER_JWT_DEFAULTS.minSecretBytes} bytes`);
  }
  return value;
}

function checkFetch(value: FetchLike | undefined): FetchLike | undefined {
  if (value !== undefined && typeof value !== "function") fail("fetch", "must be a function");
  return value;
}

/** `false` (opted out) → `null`; a string or a non-empty list of strings → the list. */
function checkClaimValues(
  option: "issuer" | "audience",
  value: string | readonly string[] | false | undefined,
): readonly string[] | null {
  if (value === false) return null;
  if (value === undefined) {
    fail(
      option,
      option === "issuer"
        ? "is required (the provider's `iss`); set `issuer: false` only to skip the check on purpose"
        : "is required (the `aud` your tokens carry); set `audience: false` only to skip the check on purpose",
    );
  }
  return typeof value === "string" ? checkStrings(option, [value]) : checkStrings(option, value);
}

function checkStrings(option: string, value: unknown, allowEmpty = false): string[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) {
    fail(
      option,
      allowEmpty ? "must be an array of strings" : "must be a string or a non-empty array of strings",
    );
  }
  for (const item of value) {
    if (typeof item !== "string" || item === "") fail(option, "must only hold non-empty strings");
  }
  return value as string[];
}

function checkCookie(value: BearerJwtOptions["cookie"]): {
  reader: CookieTokenReader | null;
  name: string | null;
} {
  if (value === undefined) return { reader: null, name: null };
  if (typeof value === "function") return { reader: value, name: null };
  if (typeof value !== "string" || !COOKIE_NAME.test(value))
    fail("cookie", "must be a cookie name or a function");
  return { reader: namedCookie(value), name: value };
}

function duration(
  option: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  unit = "ms",
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    fail(option, `must be a number from ${min} to ${max} (${unit}), got ${String(value)}`);
  }
  return value;
}
