export { bearerJwt } from "./bearer.js";
export { BEARER_JWT_DEFAULTS } from "./defaults.js";
export {
  type Auth0Claims,
  type Auth0JwtSettings,
  auth0Jwt,
  type ClerkClaims,
  type ClerkJwtSettings,
  clerkJwt,
  FIREBASE_JWKS_URL,
  type FirebaseClaims,
  type FirebaseJwtSettings,
  firebaseJwt,
  type PresetOverrides,
  type SupabaseClaims,
  type SupabaseJwtSettings,
  supabaseJwt,
  supabaseSessionCookie,
} from "./providers.js";
export type {
  BearerJwtHook,
  BearerJwtOptions,
  CookieTokenReader,
  JwtAlgorithm,
  JwtClaims,
  PrincipalResult,
  SecretSource,
} from "./types.js";
