import type { ResolvedConfig } from "./config.js";
import { EXPOSED_RESPONSE_HEADERS } from "./headers.js";
import { PROXY_METHODS } from "./methods.js";

const ALLOWED_METHODS = PROXY_METHODS.join(", ");
const EXPOSE = EXPOSED_RESPONSE_HEADERS.join(", ");

/** Adds the CORS answer headers for an allowed cross-origin caller. */
export function applyCors(headers: Headers, origin: string | null, config: ResolvedConfig): Headers {
  if (origin === null) return headers;
  headers.set("access-control-allow-origin", origin);
  if (config.cors.credentials) headers.set("access-control-allow-credentials", "true");
  headers.set("access-control-expose-headers", EXPOSE);
  headers.append("vary", "Origin");
  return headers;
}

/** The answer to a CORS preflight from an allowed origin. */
export function preflightResponse(origin: string, config: ResolvedConfig): Response {
  const headers = applyCors(new Headers(), origin, config);
  headers.set("access-control-allow-methods", ALLOWED_METHODS);
  headers.set("access-control-allow-headers", config.cors.allowHeaders);
  headers.set("access-control-max-age", String(config.cors.maxAge));
  return new Response(null, { status: 204, headers });
}
