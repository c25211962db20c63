import type { Settings } from "../options/resolve.js";
import { EXPOSED_RESPONSE_HEADERS } from "./headers.js";
import { PROXY_METHODS } from "./methods.js";
import type { Reply } from "./reply.js";

const ALLOWED_METHODS = PROXY_METHODS.join(", ");
const EXPOSE = EXPOSED_RESPONSE_HEADERS.join(", ");

/** The CORS answer headers for an allowed cross-origin caller (none for `null`). */
export function corsHeaders(
  origin: string | null,
  settings: Pick<Settings, "cors">,
): Array<[string, string]> {
  if (origin === null) return [];
  const headers: Array<[string, string]> = [["access-control-allow-origin", origin]];
  if (settings.cors.credentials) headers.push(["access-control-allow-credentials", "true"]);
  headers.push(["access-control-expose-headers", EXPOSE], ["vary", "Origin"]);
  return headers;
}

/** The answer to a CORS preflight from an allowed origin. */
export function preflightReply(origin: string, settings: Pick<Settings, "cors">): Reply {
  return {
    status: 204,
    headers: [
      ...corsHeaders(origin, settings),
      ["access-control-allow-methods", ALLOWED_METHODS],
      ["access-control-allow-headers", settings.cors.allowHeaders],
      ["access-control-max-age", String(settings.cors.maxAge)],
    ],
    body: null,
  };
}
