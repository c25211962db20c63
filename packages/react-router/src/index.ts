import {
  createFalgate as createCore,
  type Falgate,
  type FalgateEnv,
  type FalgateOptions,
} from "@falgate/core";
import { bindingOf, toFalgate } from "@falgate/core/binding";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";

/**
 * What React Router 7 and Remix 2 pass to a route's `loader` and `action` (`LoaderFunctionArgs`,
 * `ActionFunctionArgs`, `Route.LoaderArgs`): the Fetch `Request`, the route params and the load context.
 */
export interface RouteArgs {
  request: Request;
  params: Readonly<Record<string, string | undefined>>;
  /** `getLoadContext`'s value (or React Router's `RouterContextProvider` when middleware is on). */
  context?: unknown;
}

/** What hooks receive from React Router or Remix: the loader or action arguments (`args.context`, `args.params`). */
export interface ReactRouterContext<Args extends RouteArgs = RouteArgs> {
  args: Args;
}

/** The `loader` and `action` of a resource route, to export from the route module. */
export interface FalgateRouteModule<Args extends RouteArgs = RouteArgs> {
  /** GET, HEAD and OPTIONS (CORS preflights) reach the loader. */
  loader: (args: Args) => Promise<Response>;
  /** POST, PUT, PATCH and DELETE reach the action. */
  action: (args: Args) => Promise<Response>;
}

/**
 * Creates the falgate instance of a React Router or Remix app, with hooks typed for route arguments (pass your
 * own, e.g. `Route.LoaderArgs`, to type `args.context`).
 * @example
 * const falgate = createFalgate({ authorize: (request, { args }) => userFrom(args.context) });
 */
export function createFalgate<Args extends RouteArgs = RouteArgs>(
  options: FalgateOptions<ReactRouterContext<Args>> = {},
): Falgate<ReactRouterContext<Args>> {
  return createCore<ReactRouterContext<Args>>(options);
}

/**
 * Creates the `loader` and `action` of a splat resource route (`routes/api.fal.proxy.$.ts`, or
 * `route("api/fal/proxy/*", ...)` in `routes.ts`). Web-standard: React Router's own server, Express, Workers, Bun
 * and Deno alike. The platform env is `process.env` (read live), or on Cloudflare the Worker bindings in the
 * load context (`context.cloudflare.env`, as the Cloudflare template sets it); `options.env` is layered on top.
 * @example
 * // app/routes/api.fal.proxy.$.ts
 * export const { loader, action } = createFalgateHandler({ authorize, allowedEndpoints: ["fal-ai/*"] });
 */
export function createFalgateHandler<Args extends RouteArgs = RouteArgs>(
  falgate: Falgate<ReactRouterContext<Args>> | FalgateOptions<ReactRouterContext<Args>> = {},
): FalgateRouteModule<Args> {
  const instance = toFalgate(falgate);
  // Validates the instance once (a foreign object fails here, not on the first request).
  bindingOf(instance);
  const route = (args: Args): Promise<Response> => {
    const cloudflare = cloudflareOf(args.context);
    const ctx = cloudflare?.ctx;
    return instance.handle(args.request, {
      env: cloudflare?.env ?? processEnv,
      context: { args },
      ...(typeof ctx?.waitUntil === "function" ? { waitUntil: ctx.waitUntil.bind(ctx) } : {}),
    });
  };
  return { loader: route, action: route };
}

const processEnv = (globalThis as { process?: { env?: FalgateEnv } }).process?.env;

interface CloudflareLoadContext {
  env?: FalgateEnv;
  ctx?: { waitUntil?: (promise: Promise<unknown>) => void };
}

// The Cloudflare template's `getLoadContext` puts the Worker's `env` and `ctx` under `context.cloudflare`.
function cloudflareOf(context: unknown): CloudflareLoadContext | undefined {
  const value = (context as { cloudflare?: unknown } | null | undefined)?.cloudflare;
  return typeof value === "object" && value !== null ? (value as CloudflareLoadContext) : undefined;
}
