// The app-facing API of @falgate/core. What runtime bindings need lives in "@falgate/core/binding".
export {
  type Auth0Claims,
  type Auth0JwtSettings,
  auth0Jwt,
  BEARER_JWT_DEFAULTS,
  type BearerJwtHook,
  type BearerJwtOptions,
  bearerJwt,
  type ClerkClaims,
  type ClerkJwtSettings,
  type CookieTokenReader,
  clerkJwt,
  FIREBASE_JWKS_URL,
  type FirebaseClaims,
  type FirebaseJwtSettings,
  firebaseJwt,
  type JwtAlgorithm,
  type JwtClaims,
  type PresetOverrides,
  type PrincipalResult,
  type SecretSource,
  type SupabaseClaims,
  type SupabaseJwtSettings,
  supabaseJwt,
  supabaseSessionCookie,
} from "./auth/index.js";
export {
  FalgateError,
  type FalgateErrorBody,
  type FalgateErrorCode,
  isFalgateError,
  STATUS_BY_CODE,
} from "./errors.js";
export type { CallEnd, CallRecord, FalgateEvent, FalgateObserver, TunnelRecord } from "./events/types.js";
export { createFalgate, type Falgate } from "./instance.js";
export {
  type BudgetLimit,
  type BudgetPeriod,
  clientKey,
  type EndpointLimits,
  LIMIT_RESPONSE_HEADERS,
  LIMITS_DEFAULTS,
  type LimitsOptions,
  type RateLimit,
  type RateUnit,
  type Usage,
} from "./limits/index.js";
export { consoleLogger } from "./logger.js";
export {
  CALL_MESSAGE,
  type CallLogEntry,
  createAccessLog,
  createLineLogger,
  createTracing,
  type LineLogger,
  type LineLoggerOptions,
  type LogFormat,
  type LogLevel,
  type TracingOptions,
  TUNNEL_MESSAGE,
  type TunnelLogEntry,
} from "./observe/index.js";
export { DEFAULTS } from "./options/defaults.js";
export { DEFAULT_TARGETS } from "./policy/index.js";
export { DEFAULT_FORWARD_HEADERS, EXPOSED_RESPONSE_HEADERS } from "./proxy/headers.js";
export { allowedHostsSetting } from "./proxy/hosts.js";
export {
  type AdmitPlan,
  type AdmitResult,
  createMemoryStore,
  type MemoryStoreOptions,
  type SettlePlan,
  type Store,
  type WindowState,
} from "./store/index.js";
export {
  createTokenIssuer,
  type FalgateTokenClaims,
  type IssuedToken,
  type KeyPairTokenKey,
  type SecretTokenKey,
  type TokenAlgorithm,
  type TokenIssuer,
  type TokenKey,
  type TokenOptions,
  type VerifyExpectations,
} from "./tokens/index.js";
export type { RelayEndInfo, RelayEndReason, TunnelInfo, TunnelOptions } from "./tunnel/index.js";
export type {
  AuthorizeHook,
  CorsOptions,
  CredentialsResolver,
  FalgateContext,
  FalgateEnv,
  FalgateOptions,
  FalTokenOptions,
  FetchLike,
  HookContext,
  Logger,
  MintInfo,
  Platform,
  Principal,
  RequestInfo,
  ResponseInfo,
  TargetRule,
  TimeoutOptions,
} from "./types.js";
export {
  createFalWebhookVerifier,
  FAL_WEBHOOK_HEADERS,
  FAL_WEBHOOK_JWKS_URL,
  type FalWebhookFailure,
  type FalWebhookOptions,
  type FalWebhookPayload,
  type FalWebhookSuccess,
  type FalWebhookVerifier,
  verifyFalWebhook,
} from "./webhooks/index.js";
