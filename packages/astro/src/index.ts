import {
  createFalgate as createCore,
  type Falgate,
  type FalgateEnv,
  type FalgateOptions,
} from "@falgate/core";
import { toFalgate } from "@falgate/core/binding";
import type { APIContext, APIRoute } from "astro";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";

/** What hooks receive from Astro: the endpoint's `APIContext` (`context.locals`, `context.cookies`, ...). */
export interface AstroContext {
  context: APIContext;
}

/** The endpoint exports: `ALL`, and each method falgate serves (the same function). */
export interface FalgateAPIRoutes {
  ALL: APIRoute;
  GET: APIRoute;
  POST: APIRoute;
  PUT: APIRoute;
  DELETE: APIRoute;
  PATCH: APIRoute;
  HEAD: APIRoute;
  OPTIONS: APIRoute;
}

/**
 * Creates the falgate instance of an Astro app, with hooks typed for Astro.
 * @example
 * // src/lib/falgate.ts
 * export const falgate = createFalgate({ authorize: (request, { context }) => context.locals.user ?? null });
 */
export function createFalgate(options: FalgateOptions<AstroContext> = {}): Falgate<AstroContext> {
  return createCore<AstroContext>(options);
}

/**
 * Creates the API route for the fal proxy (an on-demand endpoint: `export const prerender = false`). The platform env
 * is `process.env`, read at request time; `options.env` is layered over it.
 * @example
 * // src/pages/api/fal/proxy/[...path].ts
 * export const prerender = false;
 * export const { ALL } = createFalgateHandler(falgate);
 */
export function createFalgateHandler(
  falgate: Falgate<AstroContext> | FalgateOptions<AstroContext> = {},
): FalgateAPIRoutes {
  const instance = toFalgate(falgate);
  const env = (globalThis as { process?: { env?: FalgateEnv } }).process?.env;
  const route: APIRoute = (context) =>
    instance.handle(context.request, { env, context: { context }, ip: clientAddress(context) });
  return {
    ALL: route,
    GET: route,
    POST: route,
    PUT: route,
    DELETE: route,
    PATCH: route,
    HEAD: route,
    OPTIONS: route,
  };
}
export { checkOriginExceptFalgate } from "./origin.js";

/** The client's address as the adapter saw it (the limits count anonymous callers by it); `null` where it has none. */
function clientAddress(context: APIContext): string | null {
  try {
    return context.clientAddress;
  } catch {
    // Astro throws where the adapter cannot tell (prerendered pages, some hosts).
    return null;
  }
}
