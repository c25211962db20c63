export { appCovered, normaliseAppId } from "./apps.js";
export {
  createTokenIssuer,
  type FalgateTokenClaims,
  type IssuedToken,
  MAX_CLOCK_TOLERANCE,
  MAX_TOKEN_APPS,
  MAX_TOKEN_TTL,
  TOKEN_TYPE,
  type TokenIssuer,
  type TokenOptions,
  type VerifyExpectations,
} from "./jwt.js";
export {
  type KeyPairTokenKey,
  MIN_SECRET_BYTES,
  type SecretTokenKey,
  type TokenAlgorithm,
  type TokenKey,
} from "./keys.js";
