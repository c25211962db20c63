import {
  createFalgate as createCore,
  type Falgate,
  type FalgateEnv,
  type FalgateOptions,
} from "@falgate/core";
import { toFalgate } from "@falgate/core/binding";
import type { NextRequest } from "next/server.js";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";
export {
  createFalWebhookHandler,
  type FalWebhookNextCallback,
  type FalWebhookOptions,
  type FalWebhookPayload,
} from "./webhook.js";

/** What hooks receive from an App Router route: Next's own request (`req.cookies`, `req.nextUrl`, ...). */
export interface NextContext {
  req: NextRequest;
}

/** An App Router route handler. */
export type FalgateRouteHandler = (request: NextRequest) => Promise<Response>;

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
 * Creates the falgate instance of a Next app's App Router routes, with hooks typed for Next.
 * @example
 * export const falgate = createFalgate({ authorize: async (request, { req }) => userFrom(req.cookies) });
 */
export function createFalgate(options: FalgateOptions<NextContext> = {}): Falgate<NextContext> {
  return createCore<NextContext>(options);
}

/**
 * Creates App Router route handlers for every method. Portable: runs on the Node.js and the Edge runtime (this
 * entry imports only the core). The platform env is `process.env`, read at request time; `options.env` is layered
 * over it.
 * @example
 * // app/api/fal/proxy/[[...path]]/route.ts
 * export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = createFalgateHandler({ authorize });
 */
export function createFalgateHandler(
  falgate: Falgate<NextContext> | FalgateOptions<NextContext> = {},
): FalgateRouteHandlers {
  const instance = toFalgate(falgate);
  const env = (globalThis as { process?: { env?: FalgateEnv } }).process?.env;
  const route: FalgateRouteHandler = (req) => instance.handle(req, { env, context: { req } });
  return { GET: route, POST: route, PUT: route, DELETE: route, PATCH: route, HEAD: route, OPTIONS: route };
}
