export {
  CALL_MESSAGE,
  type CallLogEntry,
  callEntry,
  createAccessLog,
  TUNNEL_MESSAGE,
  type TunnelLogEntry,
  tunnelEntry,
} from "./access-log.js";
export {
  createLineLogger,
  type LineLogger,
  type LineLoggerOptions,
  type LogFormat,
  type LogLevel,
} from "./line-logger.js";
export { createTracing, type TracingOptions } from "./tracing.js";
