/** The limits' public surface, and the Store's (exported together from the package root). */
export {
  type AdmitPlan,
  type AdmitResult,
  type Cell,
  type CellTable,
  createCellStore,
  createMemoryStore,
  type MemoryStoreOptions,
  runStoreOp,
  type Store,
  type StoreOp,
  type StoreOpResults,
  storeOpKeys,
  type WindowState,
} from "../store/index.js";
export { clientKey } from "./client-key.js";
export { LIMIT_RESPONSE_HEADERS } from "./headers.js";
export {
  type Admission,
  type AdmitRequest,
  type CallOutcome,
  createLimiter,
  type Limiter,
  type LimiterContext,
  type LimitKind,
  type Reservation,
  type Usage,
} from "./limiter.js";
export {
  type BudgetLimit,
  type BudgetPeriod,
  type EndpointLimits,
  LIMITS_DEFAULTS,
  type LimitsOptions,
  type RateLimit,
  type RateUnit,
} from "./options.js";
