import { FalgateError, errorResponse } from "./errors.js";
import type { FalgateHandler, FalgateOptions } from "./types.js";

/** Creates the falgate fetch handler (stub; implementation in progress). */
export function createFalgate(_options: FalgateOptions = {}): FalgateHandler {
  return async () => errorResponse(new FalgateError("internal_error", "not implemented"));
}
