import { FalgateError } from "../errors.js";

/** The HTTP methods the proxy serves (also what a CORS preflight is told). */
export const PROXY_METHODS: readonly string[] = Object.freeze([
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "HEAD",
  "OPTIONS",
]);

const SERVED = new Set(PROXY_METHODS);
const ALLOW = PROXY_METHODS.join(", ");

/** True when the proxy serves `method` (exact, upper-case as Fetch normalises it). */
export function isProxyMethod(method: string): boolean {
  return SERVED.has(method);
}

/** The 405 for a method the proxy does not serve, with the `allow` header listing those it does. */
export function methodNotAllowed(method: string): FalgateError {
  return new FalgateError("method_not_allowed", `Method ${method} is not supported.`, {
    headers: { allow: ALLOW },
  });
}
