export { DEFAULT_MAX_BODY_SIZE } from "./config.js";
export * from "./errors.js";
export { createFalgate } from "./handler.js";
export { DEFAULT_FORWARD_HEADERS, EXPOSED_RESPONSE_HEADERS } from "./headers.js";
export { consoleLogger } from "./logger.js";
export * from "./policy/index.js";
export * from "./tokens/index.js";
export * from "./tunnel/index.js";
export type * from "./types.js";
