export { appCovered, normaliseAppId } from "./apps.js";
export {
  DEFAULT_FAL_TOKEN_EXPIRATION,
  type FalTokenContext,
  MAX_TOKEN_BODY,
  falTokenBody,
  isFalTokenTarget,
  readSmallJson,
  rewriteFalTokenRequest,
} from "./fal.js";
export {
  type FalgateTokenClaims,
  type IssuedToken,
  MAX_CLOCK_TOLERANCE,
  MAX_TOKEN_APPS,
  MAX_TOKEN_TTL,
  TOKEN_TYPE,
  type TokenIssuer,
  type TokenOptions,
  type VerifyExpectations,
  createTokenIssuer,
  createTokenIssuerResolver,
  verifyFalgateToken,
} from "./jwt.js";
export { type KeyPairTokenKey, MIN_SECRET_BYTES, type SecretTokenKey, type TokenAlgorithm, type TokenKey } from "./keys.js";
export { type MemoryReplayStoreOptions, type ReplayStore, createMemoryReplayStore } from "./replay.js";
export { type TokenKind, type TokenRouteContext, handleTokenRoute, isTokenRoute } from "./route.js";
