export {
  checkWebhook,
  classifyTarget,
  compileEndpointPolicy,
  type EndpointPolicy,
  type FalTarget,
} from "./endpoint.js";
export { compileTargetPolicy, DEFAULT_TARGETS, MAX_TARGET_LENGTH, type TargetPolicy } from "./target.js";
