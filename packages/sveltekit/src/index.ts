import {
  createFalgate as createCore,
  type Falgate,
  type FalgateEnv,
  type FalgateOptions,
} from "@falgate/core";
import { toFalgate } from "@falgate/core/binding";
import type { RequestEvent, RequestHandler } from "@sveltejs/kit";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";

/** What hooks receive from SvelteKit: the `RequestEvent` (`event.locals`, `event.cookies`, `event.platform`). */
export interface SvelteKitContext {
  event: RequestEvent;
}

/** Every method falgate serves, ready to `export const { GET, POST, ... } = ...` from a `+server.ts`. */
export interface FalgateRequestHandlers {
  GET: RequestHandler;
  POST: RequestHandler;
  PUT: RequestHandler;
  DELETE: RequestHandler;
  PATCH: RequestHandler;
  HEAD: RequestHandler;
  OPTIONS: RequestHandler;
}

/**
 * Creates the falgate instance of a SvelteKit app, with hooks typed for SvelteKit.
 * @example
 * // src/lib/server/falgate.ts
 * export const falgate = createFalgate({ authorize: (request, { event }) => event.locals.user ?? null });
 */
export function createFalgate(options: FalgateOptions<SvelteKitContext> = {}): Falgate<SvelteKitContext> {
  return createCore<SvelteKitContext>(options);
}

/**
 * Creates `+server.ts` request handlers for every method. The platform env is `process.env` (read at request time,
 * `options.env` layered over it). On `@sveltejs/adapter-node`, a client that disconnects before fal answers aborts
 * the call to fal: SvelteKit's own `request.signal` only fires while the body is still being sent.
 * @example
 * // src/routes/api/fal/proxy/[...path]/+server.ts
 * export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = createFalgateHandler(falgate);
 */
export function createFalgateHandler(
  falgate: Falgate<SvelteKitContext> | FalgateOptions<SvelteKitContext> = {},
): FalgateRequestHandlers {
  const instance = toFalgate(falgate);
  const env = (globalThis as { process?: { env?: FalgateEnv } }).process?.env;
  const route: RequestHandler = async (event) => {
    const platform = { env, context: { event }, ip: clientAddress(event) };
    const closed = socketClosed(event.platform);
    if (!closed) return instance.handle(event.request, platform);
    const request = new Request(event.request, {
      signal: AbortSignal.any([event.request.signal, closed.signal]),
    });
    return instance.handle(request, platform).finally(closed.release);
  };
  return { GET: route, POST: route, PUT: route, DELETE: route, PATCH: route, HEAD: route, OPTIONS: route };
}

/** The client's address as the adapter saw it (the limits count anonymous callers by it); `null` where it has none. */
function clientAddress(event: RequestEvent): string | null {
  try {
    return event.getClientAddress();
  } catch {
    return null;
  }
}

interface NodeSocketLike {
  destroyed: boolean;
  once(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
}

/**
 * adapter-node puts Node's request on `platform.req`: a signal that fires when its socket closes, until `release`
 * (called once fal has answered; from then on, SvelteKit cancels the answer's stream when the client leaves).
 */
function socketClosed(platform: unknown): { signal: AbortSignal; release: () => void } | undefined {
  const socket = (platform as { req?: { socket?: NodeSocketLike } } | undefined)?.req?.socket;
  if (typeof socket?.once !== "function") return undefined;
  const controller = new AbortController();
  const abort = () => controller.abort(new DOMException("The client closed the connection.", "AbortError"));
  if (socket.destroyed) abort();
  else socket.once("close", abort);
  return { signal: controller.signal, release: () => socket.off("close", abort) };
}

export { csrfExceptFalgate } from "./csrf.js";
