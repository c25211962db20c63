export * from "./errors.js";
export type * from "./types.js";
export { createFalgate } from "./handler.js";
