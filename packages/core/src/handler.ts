import { authenticate, checkOrigin } from "./access.js";
import { type ResolvedConfig, resolveConfig } from "./config.js";
import { applyCors, preflightResponse } from "./cors.js";
import { resolveKey } from "./credentials.js";
import { errorResponse, FalgateError } from "./errors.js";
import { forward } from "./forward.js";
import { isProxyMethod, methodNotAllowed } from "./methods.js";
import { checkWebhook, classifyTarget } from "./policy/index.js";
import { handleTokenRoute, isTokenRoute, rewriteFalTokenRequest, type TokenIssuer } from "./tokens/index.js";
import type { FalgateContext, FalgateEnv, FalgateHandler, FalgateOptions, Principal } from "./types.js";

const FAL_TOKENS = "https://rest.fal.ai/tokens/";

/**
 * Creates the falgate fetch handler: `(request, env?) => Promise<Response>`. Options are validated here,
 * once; a bad option throws a `TypeError` naming it.
 * @example
 * const proxy = createFalgate({ authorize: async (req) => (await session(req)) ?? null });
 * export default { fetch: (req: Request, env: Env) => proxy(req, env) };
 */
export function createFalgate(options: FalgateOptions = {}): FalgateHandler {
  const config = resolveConfig(options);
  warnAboutDefaults(config);
  return async function falgate(request: Request, env?: FalgateEnv, ctx?: FalgateContext): Promise<Response> {
    let corsOrigin: string | null = null;
    try {
      const verdict = checkOrigin(request, config);
      corsOrigin = verdict.corsOrigin;
      if (
        request.method === "OPTIONS" &&
        corsOrigin !== null &&
        request.headers.has("access-control-request-method")
      ) {
        return preflightResponse(corsOrigin, config);
      }
      if (!isProxyMethod(request.method)) throw methodNotAllowed(request.method);
      const runtimeEnv = env ?? config.env;
      const principal = await authenticate(request, runtimeEnv, config, verdict);
      const call: Call = {
        request,
        env: runtimeEnv,
        principal,
        config,
        waitUntil: ctx?.waitUntil?.bind(ctx),
      };
      const response =
        !request.headers.has("x-fal-target-url") && isTokenRoute(request)
          ? await tokenRoute(call)
          : await proxy(call);
      if (corsOrigin !== null) applyCorsToResponse(response, corsOrigin, config);
      return response;
    } catch (error) {
      if (!(error instanceof FalgateError)) {
        // Not ours: usually a bug in an app hook (authorize, credentials, onRequest). Its message helps the
        // app's developer; the key is never part of a message falgate builds.
        config.logger.error("unexpected error in falgate", {
          error: error instanceof Error ? `${error.name}: ${error.message.slice(0, 300)}` : typeof error,
        });
      }
      return errorResponse(
        error,
        corsOrigin !== null ? applyCors(new Headers(), corsOrigin, config) : undefined,
      );
    }
  };
}

/** One authenticated request on its way through the handler. */
interface Call {
  request: Request;
  env: FalgateEnv;
  principal: Principal;
  config: ResolvedConfig;
  /** Keeps the runtime alive for work after the response (Workers' `ctx.waitUntil`). */
  waitUntil: ((promise: Promise<unknown>) => void) | undefined;
}

async function proxy(call: Call): Promise<Response> {
  const { request, principal, config } = call;
  const target = config.targets.parse(request.headers.get("x-fal-target-url"));
  const fal = classifyTarget(target);
  checkWebhook(target, config.webhookOrigins);
  if (!config.endpoints.allows(fal, principal.endpoints)) {
    throw new FalgateError(
      "endpoint_not_allowed",
      fal.endpointId
        ? `Endpoint ${fal.endpointId} is not allowed for this proxy.`
        : "This target is not an endpoint this proxy allows.",
    );
  }
  const body =
    fal.kind === "token"
      ? await rewriteFalTokenRequest(request, {
          principal,
          endpoints: config.endpoints,
          maxExpiration: config.falTokenMaxExpiration,
        })
      : undefined;
  return forwardCall(call, request, target, fal.endpointId, body);
}

/** The token route (`POST {mount}/token`, no `x-fal-target-url`): see docs/realtime.md. */
async function tokenRoute(call: Call): Promise<Response> {
  const { request, env, principal, config } = call;
  let issuer: TokenIssuer | null;
  try {
    issuer = config.tokenIssuer(env);
  } catch (error) {
    config.logger.error("falgate token keys are misconfigured", {
      error: error instanceof Error ? error.message : String(error),
    });
    throw new FalgateError("internal_error", "falgate token keys are misconfigured.");
  }
  return handleTokenRoute(request, {
    principal,
    endpoints: config.endpoints,
    maxExpiration: config.falTokenMaxExpiration,
    issuer,
    forwardFalToken: (body) => {
      // A clean JSON POST: the browser's request may carry no content-type (`?app=`) or other headers.
      const upstream = new Request(request.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        signal: request.signal,
      });
      return forwardCall(call, upstream, new URL(FAL_TOKENS), null, body);
    },
  });
}

/** Key, hooks and forwarding for one validated call; `call.request` is what `onRequest`/`credentials` see. */
async function forwardCall(
  call: Call,
  request: Request,
  target: URL,
  endpointId: string | null,
  body: string | undefined,
): Promise<Response> {
  const { env, principal, config, request: hookRequest } = call;
  const key = await resolveKey(hookRequest, env, principal, config);
  const startedAt = Date.now();
  const base = { principal, method: request.method, target, endpointId };
  if (config.onRequest) await config.onRequest({ ...base, request: hookRequest });
  const onResponse = config.onResponse;
  return forward(
    {
      request,
      target,
      key,
      ...(body === undefined ? {} : { body }),
      onEnd: (result) => {
        if (!onResponse) return;
        const { error, ...rest } = result;
        const done = Promise.resolve()
          .then(() =>
            onResponse({ ...base, ...rest, ...(error ? { error } : {}), durationMs: Date.now() - startedAt }),
          )
          .catch((hookError: unknown) =>
            config.logger.error("onResponse hook failed", {
              error: hookError instanceof Error ? hookError.message : String(hookError),
            }),
          );
        call.waitUntil?.(done);
      },
    },
    config,
  );
}

function applyCorsToResponse(response: Response, origin: string, config: ResolvedConfig): void {
  // Responses built by the forwarder have mutable headers; this never runs on a fetch()ed Response.
  applyCors(response.headers, origin, config);
}

function warnAboutDefaults(config: ResolvedConfig): void {
  if (config.allowUnauthenticated) {
    config.logger.warn(
      "allowUnauthenticated is on: anyone who can reach this proxy can spend your fal credits. Use it only for local development.",
    );
  } else if (!config.authorize) {
    config.logger.warn(
      "no `authorize` hook: only same-origin browser requests (and `allowedOrigins`) are accepted. " +
        "These checks rely on browser headers; configure `authorize` to tie calls to your users.",
    );
  }
}
