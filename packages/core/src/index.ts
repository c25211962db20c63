export { DEFAULT_MAX_BODY_SIZE } from "./config.js";
export * from "./errors.js";
export { createFalgate } from "./handler.js";
export { DEFAULT_FORWARD_HEADERS, EXPOSED_RESPONSE_HEADERS } from "./headers.js";
export {
  type Admission,
  type AdmitPlan,
  type AdmitRequest,
  type AdmitResult,
  type BudgetLimit,
  type BudgetPeriod,
  type CallOutcome,
  type Cell,
  type CellTable,
  clientKey,
  createCellStore,
  createLimiter,
  createMemoryStore,
  type EndpointLimits,
  LIMIT_RESPONSE_HEADERS,
  LIMITS_DEFAULTS,
  type Limiter,
  type LimiterContext,
  type LimitKind,
  type LimitsOptions,
  type MemoryStoreOptions,
  type RateLimit,
  type RateUnit,
  type Reservation,
  runStoreOp,
  type Store,
  type StoreOp,
  type StoreOpResults,
  storeOpKeys,
  type Usage,
  type WindowState,
} from "./limits/index.js";
export { consoleLogger } from "./logger.js";
export { isProxyMethod, methodNotAllowed, PROXY_METHODS } from "./methods.js";
export * from "./policy/index.js";
export * from "./tokens/index.js";
export * from "./tunnel/index.js";
export type * from "./types.js";
