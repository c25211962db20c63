/**
 * Every default of `bearerJwt` and its provider presets, in one place: validation, docs and presets read them here.
 */
export const BEARER_JWT_DEFAULTS = Object.freeze({
  /** Accepted algorithms when none are given: the OIDC default for key sets, HS256 for a shared secret. */
  algorithms: Object.freeze({
    jwks: Object.freeze(["RS256"] as const),
    secret: Object.freeze(["HS256"] as const),
  }),
  /** Clock skew tolerated on `exp`/`nbf`/`iat`, seconds. */
  clockTolerance: 5,
  /** Largest `clockTolerance` accepted, seconds. */
  maxClockTolerance: 60,
  /** Claims every token must carry (a token without expiry would never die). */
  requiredClaims: Object.freeze(["exp"] as const),
  /** Longest wait for the key set, ms. */
  jwksTimeout: 5_000,
  /** Least time between two key set fetches, ms. */
  jwksCooldown: 30_000,
  /** How long a fetched key set is used before it is fetched again, ms. */
  jwksCacheMaxAge: 600_000,
  /** How long after its fetch the last key set still verifies while the provider is unreachable, ms. */
  jwksStaleIfError: 86_400_000,
  /** Longest token read from a header or a cookie, characters (a JWT with large custom claims fits). */
  maxTokenLength: 16_384,
  /** Smallest HMAC secret, bytes (RFC 7518 §3.2: at least the hash size). */
  minSecretBytes: 32,
});
