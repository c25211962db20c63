import { createFalgate, type FalgateOptions } from "@falgate/core";
import { platformEnv } from "./env.js";

export type { FalgateOptions } from "@falgate/core";
export {
  createFalWebhookHandler,
  type FalWebhookNextCallback,
  type FalWebhookOptions,
  type FalWebhookPayload,
} from "./webhook.js";

/** An App Router route handler (`NextRequest` is a `Request`; the route context is not needed). */
export type FalgateRouteHandler = (request: Request) => Promise<Response>;

/** Every method falgate serves, ready to `export const { GET, POST, ... } = ...` from a route file. */
export interface FalgateRouteHandlers {
  GET: FalgateRouteHandler;
  POST: FalgateRouteHandler;
  PUT: FalgateRouteHandler;
  DELETE: FalgateRouteHandler;
  PATCH: FalgateRouteHandler;
  HEAD: FalgateRouteHandler;
  OPTIONS: FalgateRouteHandler;
}

/**
 * Creates App Router route handlers for every method. Portable: runs on the Node.js and the Edge runtime
 * (this entry imports only the core). The env is `process.env` read at request time, with `options.env` on top.
 * @example
 * // app/api/fal/proxy/route.ts
 * export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = createFalgateHandler({ authorize });
 */
export function createFalgateHandler(options: FalgateOptions = {}): FalgateRouteHandlers {
  const handler = createFalgate(options);
  const env = platformEnv(options.env);
  const route: FalgateRouteHandler = (request) => handler(request, env);
  return { GET: route, POST: route, PUT: route, DELETE: route, PATCH: route, HEAD: route, OPTIONS: route };
}
