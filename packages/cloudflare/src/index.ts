import {
  createFalgate as createCore,
  type Falgate,
  type FalgateEnv,
  type FalgateOptions,
} from "@falgate/core";
import { toFalgate } from "@falgate/core/binding";
import { handleTunnel } from "./tunnel.js";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";
/** `allowedHosts` from a comma-separated binding such as `FALGATE_ALLOWED_HOSTS` (`all` alone: no host check). */
export { allowedHostsSetting } from "@falgate/core";
export {
  createDurableObjectStore,
  type DurableObjectNamespaceLike,
  type DurableObjectStateLike,
  type DurableObjectStorageLike,
  type DurableObjectStoreOptions,
  FalgateStore,
} from "./store.js";
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

/** What hooks receive on Workers: the bindings and the execution context. */
export interface WorkersContext<E extends object = FalgateEnv> {
  bindings: E;
  ctx: WorkerContext | undefined;
}

/** A module Worker: `export default createFalgateHandler(...)`. */
export interface FalgateWorker<E extends object = FalgateEnv> {
  fetch(request: Request, env: E, ctx?: WorkerContext): Promise<Response>;
}

/** An instance, static options, or options built from the Worker bindings (once per bindings object). */
export type FalgateWorkerOptions<E extends object = FalgateEnv> =
  | Falgate<WorkersContext<E>>
  | FalgateOptions<WorkersContext<E>>
  | ((env: E) => FalgateOptions<WorkersContext<E>>);

/**
 * Creates the falgate instance of a Worker, with hooks typed for Workers.
 * @example
 * const falgate = createFalgate<Env>({ authorize: (request, { bindings }) => verify(request, bindings.JWKS_URL) });
 */
export function createFalgate<E extends object = FalgateEnv>(
  options: FalgateOptions<WorkersContext<E>> = {},
): Falgate<WorkersContext<E>> {
  return createCore<WorkersContext<E>>(options);
}

/**
 * Creates a module Worker whose `fetch` is the fal proxy and, below the mount, the realtime tunnel. The platform env
 * of each request is the Worker's bindings (`FAL_KEY` from `wrangler secret put FAL_KEY`); `options.env` is layered
 * over it. Options may be a function of the bindings, since Workers only see them inside `fetch`: the instance is
 * then created once per bindings object.
 * @example
 * export default createFalgateHandler<Env>((env) => ({ allowedOrigins: [env.APP_ORIGIN] }));
 */
export function createFalgateHandler<E extends object = FalgateEnv>(
  options: FalgateWorkerOptions<E> = {},
): FalgateWorker<E> {
  const fixed = typeof options === "function" ? undefined : toFalgate(options);
  const perBindings = new WeakMap<object, Falgate<WorkersContext<E>>>();
  const instanceFor = (bindings: E): Falgate<WorkersContext<E>> => {
    if (fixed !== undefined) return fixed;
    let instance = perBindings.get(bindings);
    if (instance === undefined) {
      instance = createFalgate<E>((options as (env: E) => FalgateOptions<WorkersContext<E>>)(bindings));
      perBindings.set(bindings, instance);
    }
    return instance;
  };
  return {
    async fetch(request, env, ctx) {
      const bindings = env ?? ({} as E);
      const instance = instanceFor(bindings);
      // WebSocket upgrades below the mount are the realtime tunnel; everything else is the HTTP proxy.
      // `ctx` keeps `onResponse` hooks (metering) alive after the response has been sent.
      return (
        (await handleTunnel(request, instance, bindings)) ??
        instance.handle(request, {
          env: bindings,
          context: { bindings, ctx },
          // Set by Cloudflare's edge (a client cannot): the address the limits count anonymous callers by.
          ip: request.headers.get("cf-connecting-ip"),
          ...(ctx ? { waitUntil: ctx.waitUntil.bind(ctx) } : {}),
        })
      );
    },
  };
}
