import {
  createFalgate as createCore,
  type Falgate,
  type FalgateEnv,
  type FalgateOptions,
} from "@falgate/core";
import { bindingOf, toFalgate } from "@falgate/core/binding";
import {
  defineEventHandler,
  type EventHandler,
  type EventHandlerRequest,
  getRequestIP,
  getRequestURL,
  getRequestWebStream,
  type H3Event,
} from "h3";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";

/** What hooks receive from h3: its event (`event.context.user` set by your auth middleware, Nitro's context, ...). */
export interface H3Context {
  event: H3Event;
}

/** An h3 event handler answering with the falgate `Response`. */
export type FalgateEventHandler = EventHandler<EventHandlerRequest, Promise<Response>>;

/**
 * Creates the falgate instance of an h3 / Nitro / Nuxt app, with hooks typed for h3.
 * @example
 * export const falgate = createFalgate({ authorize: (request, { event }) => event.context.user ?? null });
 */
export function createFalgate(options: FalgateOptions<H3Context> = {}): Falgate<H3Context> {
  return createCore<H3Context>(options);
}

/**
 * Creates the h3 event handler of the fal proxy (h3 1.x: Nuxt 3 and 4, Nitro 2). Web-standard, so it runs on every
 * Nitro preset (Node, Workers, Deno, Bun, edge functions); on a Node server, `@falgate/h3/node` moves the bytes
 * natively instead. The platform env is `process.env` (read live), or on Cloudflare the Worker bindings Nitro puts
 * in `event.context.cloudflare.env`; `options.env` is layered on top. `onResponse` work goes to `event.waitUntil`.
 * @example
 * // server/api/fal/proxy/[...path].ts (Nuxt)
 * export default createFalgateHandler({ authorize: (request, { event }) => event.context.user ?? null });
 */
export function createFalgateHandler(
  falgate: Falgate<H3Context> | FalgateOptions<H3Context> = {},
): FalgateEventHandler {
  const instance = toFalgate(falgate);
  // Validates the instance once (a foreign object fails here, not on the first request).
  bindingOf(instance);
  return defineEventHandler((event) => {
    const waitUntil = (event as { waitUntil?: (promise: Promise<unknown>) => void }).waitUntil;
    return instance.handle(webRequest(event), {
      env: platformEnv(event),
      context: { event },
      // The socket's address (never a forwarded header: `trustProxy` decides about those).
      ip: getRequestIP(event) ?? null,
      ...(typeof waitUntil === "function" ? { waitUntil: waitUntil.bind(event) } : {}),
    });
  });
}

const processEnv = (globalThis as { process?: { env?: FalgateEnv } }).process?.env;

/** The Worker bindings on Nitro's Cloudflare presets (`event.context.cloudflare.env`), else `process.env`. */
export function platformEnv(event: H3Event): FalgateEnv | undefined {
  const env = (event.context.cloudflare as { env?: unknown } | undefined)?.env;
  return typeof env === "object" && env !== null ? (env as FalgateEnv) : processEnv;
}

/**
 * The event as a Fetch `Request`: the runtime's own where there is one, else built from Node's request with the
 * body h3 kept if a handler already read it (`readBody`, `readRawBody`) or the stream itself. Unlike h3's
 * `toWebRequest`, the request carries an abort signal that fires when the client goes away before the answer
 * is over, so fal sees the cancellation.
 */
export function webRequest(event: H3Event): Request {
  const own = event.web?.request;
  if (own) return own;
  const controller = new AbortController();
  const res = event.node.res;
  res.once?.("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  const body = getRequestWebStream(event);
  return new Request(getRequestURL(event), {
    method: event.method,
    headers: event.headers,
    body,
    signal: controller.signal,
    ...(body ? { duplex: "half" } : {}),
  } as RequestInit);
}
