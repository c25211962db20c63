import type { JSONWebKeySet, JWTPayload } from "jose";
import type { FalgateEnv, FetchLike, HookContext, Logger, Principal } from "../types.js";

/** The claims of a verified JWT: the registered ones (`iss`, `sub`, `aud`, `exp`, ...) and any the provider adds. */
export type JwtClaims = JWTPayload;

/**
 * The JWS algorithms `bearerJwt` verifies. `none` is not one of them; the HMAC ones (`HS*`) only with `secret`, the
 * others only with `jwksUrl`/`jwks`.
 */
export type JwtAlgorithm =
  | "RS256"
  | "RS384"
  | "RS512"
  | "PS256"
  | "PS384"
  | "PS512"
  | "ES256"
  | "ES384"
  | "ES512"
  | "EdDSA"
  | "Ed25519"
  | "HS256"
  | "HS384"
  | "HS512";

/** What a `principal` mapping may answer: a principal to allow, `null`/`undefined`/`false` to refuse (401). */
export type PrincipalResult = Principal | null | undefined | false;

/**
 * Reads the token from the request's cookies (name → value, first occurrence of a name, URI-decoded). Returns the
 * compact JWT, or `null`/`undefined` when the cookies hold none.
 */
export type CookieTokenReader = (cookies: ReadonlyMap<string, string>) => string | null | undefined;

/** A secret, or a function reading it from the env of each request (Workers only see their secrets per request). */
export type SecretSource = string | Uint8Array | ((env: FalgateEnv) => string | Uint8Array | undefined);

/**
 * Options of {@link bearerJwt}. Exactly one key source (`jwksUrl`, `jwks` or `secret`); `issuer` and `audience`
 * are required, and only skipped when set to `false` on purpose. `T` types the claims `principal` receives.
 */
export interface BearerJwtOptions<T extends JwtClaims = JwtClaims> {
  /**
   * Where the provider publishes its signing keys (a JSON Web Key Set), e.g.
   * `https://tenant.us.auth0.com/.well-known/jwks.json`. `https:` only (`http:` on loopback for tests). Fetched on
   * first use with jose's remote key set, cached (`jwksCacheMaxAge`) and fetched again for an unknown `kid`
   * (at most once per `jwksCooldown`).
   */
  jwksUrl?: string | URL;
  /** A key set held locally (public keys only): for keys you publish yourself or pin in configuration. */
  jwks?: JSONWebKeySet;
  /**
   * A shared HMAC secret (`HS256`/`HS384`/`HS512`), at least 32 bytes (UTF-8 for strings), e.g. a Supabase project's
   * legacy JWT secret. A function reads it per request from the env (`(env) => env.SUPABASE_JWT_SECRET`).
   */
  secret?: SecretSource;
  /**
   * The `iss` the tokens must carry (one, or a list). Required: set `false` only when the key set signs for nobody
   * else and `audience` or `authorizedParties` still ties the token to you.
   */
  issuer: string | readonly string[] | false;
  /**
   * The `aud` the tokens must carry (one of them). Required: set `false` only for providers whose tokens carry no
   * audience (Clerk: check `authorizedParties` instead).
   */
  audience: string | readonly string[] | false;
  /**
   * Accepted signing algorithms; a token signed with any other is refused (no `none`, no algorithm confusion).
   * @default ["RS256"] with `jwksUrl`/`jwks`, ["HS256"] with `secret`
   */
  algorithms?: readonly JwtAlgorithm[];
  /**
   * Maps the verified claims to falgate's principal (`{ id, endpoints?, data? }`); return `null` to refuse (401)
   * or throw a `FalgateError` (e.g. `forbidden`). May be async (a database lookup).
   * @default (claims) => ({ id: claims.sub }), and tokens without `sub` are refused
   */
  principal?: (claims: T, request: Request) => PrincipalResult | Promise<PrincipalResult>;
  /** Claims a token must carry, besides `exp` (always required) and those `issuer`/`audience` imply. @default [] */
  requiredClaims?: readonly string[];
  /**
   * Accepted `azp` (authorized party) values, e.g. your app's origins for Clerk: a token whose `azp` is not listed
   * is refused; a token without `azp` passes this check. @default undefined (not checked)
   */
  authorizedParties?: readonly string[];
  /** The `typ` header the tokens must carry (e.g. `at+jwt` for RFC 9068 access tokens). @default undefined (not checked) */
  typ?: string;
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (0 to 60). @default 5 */
  clockTolerance?: number;
  /** Oldest `iat` accepted, in seconds: refuses tokens issued longer ago, whatever their `exp`. @default undefined */
  maxTokenAge?: number;
  /**
   * Also read the token from a cookie, for apps whose browser holds the JWT in one (same-origin calls): a cookie
   * name holding the compact JWT (`"__session"`), or a reader for a cookie in another shape (the Supabase preset's).
   * `Authorization: Bearer` wins when both are sent. @default undefined (header only)
   */
  cookie?: string | CookieTokenReader;
  /** The transport used to fetch `jwksUrl` (a Worker's, undici's, a test's). @default globalThis.fetch */
  fetch?: FetchLike;
  /** Longest wait for the key set, in ms; a slower answer counts as an outage. @default 5_000 */
  jwksTimeout?: number;
  /** Least time between two fetches of the key set (after a success for an unknown `kid`, after a failure), in ms. @default 30_000 */
  jwksCooldown?: number;
  /** How long a fetched key set is used before it is fetched again, in ms. @default 600_000 (10 min) */
  jwksCacheMaxAge?: number;
  /**
   * While the key set cannot be fetched, keep verifying with the last one fetched, for at most this long after
   * that fetch, in ms; `0` refuses every token during an outage. @default 86_400_000 (24 h)
   */
  jwksStaleIfError?: number;
  /** Where key set outages are reported (never tokens). @default console-backed warn/error logger */
  logger?: Logger;
}

/**
 * The hook {@link bearerJwt} returns: an `authorize` hook for every adapter, plus `verify` to use the same checks
 * inside a hook of your own.
 */
export interface BearerJwtHook<T extends JwtClaims = JwtClaims> {
  /** Reads the token of `request`, verifies it and maps its claims to a principal; throws a `FalgateError` to refuse. */
  (request: Request, ctx?: Partial<HookContext>): Promise<PrincipalResult>;
  /**
   * Verifies one compact JWT as the hook does (`env` for a `secret` read from the env) and resolves its claims;
   * rejects with a `FalgateError` (`unauthenticated`, or `auth_unavailable` when the key set is unreachable).
   */
  verify(token: string, env?: FalgateEnv): Promise<T>;
}
