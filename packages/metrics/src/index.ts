// Prometheus metrics for falgate: an observer of an instance's events and the handlers that serve them.
export {
  createMetrics,
  type FalgateMetrics,
  METRICS_DEFAULTS,
  type MetricsOptions,
  type Observable,
} from "./metrics.js";
