import type { FalgateObserver } from "./events/types.js";
import type { Usage } from "./limits/limiter.js";
import { resolveOptions, type Settings } from "./options/resolve.js";
import { type Decision, decide } from "./proxy/decide.js";
import { forwardWithFetch } from "./proxy/fetch.js";
import { type CallInput, webInput } from "./proxy/input.js";
import { toResponse } from "./proxy/reply.js";
import { createTunnelGate, type TunnelGate } from "./tunnel/gate.js";
import type { FalgateContext, FalgateOptions, Platform } from "./types.js";

/** The key of an instance's binding interface (see `bindingOf` in `@falgate/core/binding`). */
export const BINDING: unique symbol = Symbol.for("falgate.binding");

/** What runtime bindings (Node, Workers, adapters) use of an instance; not app-facing API. */
export interface FalgateBinding<C extends object = object> {
  /** The options, validated and resolved once. */
  readonly settings: Settings<C>;
  /** The portable decision for one HTTP request. Never rejects. */
  decide(input: CallInput, platform: Platform<C>): Promise<Decision>;
  /** The realtime tunnel policy. */
  readonly tunnel: TunnelGate;
}

/**
 * One falgate per app: options are validated once and shared by the HTTP proxy, the token route and the realtime
 * tunnel. Mount it with an adapter (`@falgate/express`, `@falgate/hono`, `@falgate/next`, `@falgate/cloudflare`,
 * `@falgate/node`), or call `fetch` yourself on any runtime with Web `Request`/`Response`.
 */
export interface Falgate<C extends object = object> {
  /**
   * The proxy as a Workers-shaped fetch handler: `env` is the platform env (the Worker's bindings, `process.env`;
   * `options.env` is layered over it), `ctx` keeps `onResponse` work alive (`waitUntil`). Hooks receive
   * `{ env, bindings, ctx }` (`bindings` is the `env` given here, as the Workers adapter passes it).
   */
  fetch(request: Request, env?: object, ctx?: FalgateContext): Promise<Response>;
  /** The proxy for a Web `Request` with the framework's context (what adapters call). */
  handle(request: Request, platform: Platform<C>): Promise<Response>;
  /** Subscribes to falgate's events (metrics, traces, logs); returns the function that unsubscribes. */
  observe(observer: FalgateObserver): () => void;
  /**
   * A principal's counters: requests left in the rate window, calls in flight, budget spent (all `null` when no
   * limits are configured). `principal` is the `authorize` hook's id, or `clientKey(ip)` for anonymous callers.
   */
  usage(principal: string): Promise<Usage>;
  /**
   * Frees the concurrency slot a queue job holds, when the app learns of its end another way (a fal webhook):
   * otherwise it is freed when falgate sees the job's COMPLETED status, result or cancel, or after
   * `limits.queueTimeout`. Never rejects; does nothing without limits.
   */
  endJob(principal: string, requestId: string): Promise<void>;
  /** @internal The binding interface; read it with `bindingOf()` from `@falgate/core/binding`. */
  readonly [BINDING]: FalgateBinding<C>;
}

/**
 * Creates the falgate instance of an app. Options are validated here, once; a bad option throws a `TypeError`
 * naming it.
 * @example
 * const falgate = createFalgate({ authorize: async (req) => (await session(req)) ?? null });
 * export default falgate; // a Cloudflare Worker: `fetch(request, env, ctx)`
 */
export function createFalgate<C extends object = object>(options: FalgateOptions<C> = {}): Falgate<C> {
  const settings = resolveOptions(options);
  warnAboutDefaults(settings);
  const tunnel = createTunnelGate(settings);
  const binding: FalgateBinding<C> = {
    settings,
    decide: (input, platform) => decide(settings, input, platform),
    tunnel,
  };

  async function handle(request: Request, platform: Platform<C>): Promise<Response> {
    const decision = await decide(settings, webInput(request), platform);
    if (decision.kind === "reply") return toResponse(decision.reply);
    return forwardWithFetch(decision.plan, request, settings.fetch);
  }

  return {
    fetch(request, env, ctx) {
      return handle(request, {
        env,
        waitUntil: ctx?.waitUntil?.bind(ctx),
        context: { bindings: env ?? {}, ctx } as unknown as C,
      });
    },
    handle,
    observe: (observer) => settings.events.add(observer),
    endJob: (principal, requestId) => settings.limiter?.endJob(principal, requestId) ?? Promise.resolve(),
    usage: (principal) =>
      settings.limiter?.usage(principal) ??
      Promise.resolve({ principal, rate: null, concurrency: null, budget: null }),
    [BINDING]: binding,
  };
}

function warnAboutDefaults<C extends object>(settings: Settings<C>): void {
  if (settings.allowUnauthenticated) {
    settings.logger.warn(
      "allowUnauthenticated is on: anyone who can reach this proxy can spend your fal credits. Use it only for local development.",
    );
  } else if (!settings.authorize) {
    settings.logger.warn(
      "no `authorize` hook: only same-origin browser requests (and `allowedOrigins`) are accepted. " +
        "These checks rely on browser headers; configure `authorize` to tie calls to your users.",
    );
  }
}
