import { createFalgate, type FalgateEnv, type FalgateHandler, type FalgateOptions } from "@falgate/core";
import { handleTunnel } from "./tunnel.js";

export type { FalgateOptions } from "@falgate/core";
/** The realtime tunnel on `WebSocketPair`, for Workers that route requests themselves. */
export { handleTunnel } from "./tunnel.js";
export {
  createFalWebhookHandler,
  type FalWebhookOptions,
  type FalWebhookPayload,
  type FalWebhookWorker,
  type FalWebhookWorkerCallback,
  type FalWebhookWorkerContext,
} from "./webhook.js";

/** The part of the Workers `ExecutionContext` falgate uses (kept local so no Workers types are required). */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** A module Worker: `export default createFalgateHandler(...)`. */
export interface FalgateWorker<E extends object = FalgateEnv> {
  fetch(request: Request, env: E, ctx?: WorkerContext): Promise<Response>;
}

/** Static options, or options built from the Worker bindings (read once per bindings object, not per request). */
export type FalgateWorkerOptions<E extends object = FalgateEnv> =
  | FalgateOptions
  | ((env: E) => FalgateOptions);

interface Instance {
  options: FalgateOptions;
  handler: FalgateHandler;
  env: FalgateEnv;
}

/**
 * Creates a module Worker whose `fetch` is the fal proxy. The env of each request is the Worker's bindings
 * (`FAL_KEY` from `wrangler secret put FAL_KEY`) with `options.env` on top. Options may be a function of the
 * bindings, since Workers only see them inside `fetch`; it runs once per bindings object.
 * @example
 * export default createFalgateHandler<Env>((env) => ({ allowedOrigins: [env.APP_ORIGIN] }));
 */
export function createFalgateHandler<E extends object = FalgateEnv>(
  options: FalgateWorkerOptions<E> = {},
): FalgateWorker<E> {
  const instances = new WeakMap<object, Instance>();
  const instanceFor = (bindings: E): Instance => {
    let instance = instances.get(bindings);
    if (!instance) {
      const resolved = typeof options === "function" ? options(bindings) : options;
      const env = resolved.env ? { ...(bindings as FalgateEnv), ...resolved.env } : (bindings as FalgateEnv);
      instance = { options: resolved, handler: createFalgate(resolved), env };
      instances.set(bindings, instance);
    }
    return instance;
  };
  return {
    async fetch(request, env, ctx) {
      const { options: resolved, handler, env: requestEnv } = instanceFor(env ?? ({} as E));
      // WebSocket upgrades below the mount are the realtime tunnel; everything else is the HTTP proxy.
      // `ctx` keeps `onResponse` hooks (metering) alive after the response has been sent.
      return (await handleTunnel(request, resolved, requestEnv)) ?? handler(request, requestEnv, ctx);
    },
  };
}
