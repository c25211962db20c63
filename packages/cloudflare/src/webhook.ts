import {
  consoleLogger,
  createFalWebhookVerifier,
  type FalgateEnv,
  FalgateError,
  type FalWebhookOptions,
  type FalWebhookPayload,
  type FalWebhookVerifier,
} from "@falgate/core";
import { errorResponse } from "@falgate/core/binding";

export type { FalWebhookOptions, FalWebhookPayload } from "@falgate/core";

/** The part of the Workers `ExecutionContext` a webhook callback may use (`waitUntil` for work after the answer). */
export interface FalWebhookWorkerContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** Receives a verified fal webhook; return the answer, or nothing for a 204. */
export type FalWebhookWorkerCallback<T = unknown, E extends object = FalgateEnv> = (
  payload: FalWebhookPayload<T>,
  request: Request,
  env: E,
  ctx: FalWebhookWorkerContext | undefined,
  // biome-ignore lint/suspicious/noConfusingVoidType: an async callback that returns nothing is a Promise<void>
) => Response | undefined | Promise<Response | undefined | void>;

/** A module Worker (or a part of one) answering fal webhooks. */
export interface FalWebhookWorker<E extends object = FalgateEnv> {
  fetch(request: Request, env: E, ctx?: FalWebhookWorkerContext): Promise<Response>;
}

/**
 * Creates a Worker `fetch` for a fal webhook route: verifies the delivery (`verifyFalWebhook`, WebCrypto Ed25519)
 * and hands the parsed payload to `onWebhook`; a refused delivery gets the 401 `invalid_webhook` JSON. Options may be
 * a function of the bindings (built once per bindings object). The default replay store is per isolate: pass a
 * shared `store` to refuse replays across isolates.
 * @example
 * const webhook = createFalWebhookHandler<Env>({}, async (event, request, env) => {
 *   await env.RESULTS.put(event.request_id, JSON.stringify(event.payload));
 * });
 * export default { fetch: (req, env, ctx) => webhook.fetch(req, env, ctx) };
 */
export function createFalWebhookHandler<T = unknown, E extends object = FalgateEnv>(
  options: FalWebhookOptions | ((env: E) => FalWebhookOptions),
  onWebhook: FalWebhookWorkerCallback<T, E>,
): FalWebhookWorker<E> {
  type Instance = { verify: FalWebhookVerifier; options: FalWebhookOptions };
  const build = (resolved: FalWebhookOptions): Instance => ({
    verify: createFalWebhookVerifier(resolved),
    options: resolved,
  });
  // Static options are validated (and a bad one thrown) right here; a function of the bindings on first use.
  const fixed = typeof options === "function" ? undefined : build(options);
  const perBindings = new WeakMap<object, Instance>();
  const instanceFor = (env: E): Instance => {
    if (fixed) return fixed;
    let instance = perBindings.get(env);
    if (!instance) {
      instance = build((options as (env: E) => FalWebhookOptions)(env));
      perBindings.set(env, instance);
    }
    return instance;
  };
  return {
    async fetch(request, env, ctx) {
      const { verify, options: resolved } = instanceFor(env ?? ({} as E));
      let payload: FalWebhookPayload<T>;
      try {
        payload = await verify<T>(request);
      } catch (error) {
        if (!(error instanceof FalgateError) || error.code === "internal_error") {
          (resolved.logger ?? consoleLogger()).error("fal webhook route failed", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
        return errorResponse(error);
      }
      return (await onWebhook(payload, request, env, ctx)) ?? new Response(null, { status: 204 });
    },
  };
}
