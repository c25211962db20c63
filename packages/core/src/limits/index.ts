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
