export { appCovered, normaliseAppId } from "./apps.js";
export {
  DEFAULT_FAL_TOKEN_EXPIRATION,
  type FalTokenContext,
  falTokenBody,
  isFalTokenTarget,
  MAX_TOKEN_BODY,
  readSmallJson,
  rewriteFalTokenRequest,
} from "./fal.js";
export {
  createTokenIssuer,
  createTokenIssuerResolver,
  type FalgateTokenClaims,
  type IssuedToken,
  MAX_CLOCK_TOLERANCE,
  MAX_TOKEN_APPS,
  MAX_TOKEN_TTL,
  TOKEN_TYPE,
  type TokenIssuer,
  type TokenOptions,
  type VerifyExpectations,
  verifyFalgateToken,
} from "./jwt.js";
export {
  type KeyPairTokenKey,
  MIN_SECRET_BYTES,
  type SecretTokenKey,
  type TokenAlgorithm,
  type TokenKey,
} from "./keys.js";
export { createMemoryReplayStore, type MemoryReplayStoreOptions, type ReplayStore } from "./replay.js";
export { handleTokenRoute, isTokenRoute, type TokenKind, type TokenRouteContext } from "./route.js";
