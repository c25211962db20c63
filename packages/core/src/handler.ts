import { authenticate, checkOrigin } from "./access.js";
import { type ResolvedConfig, resolveConfig } from "./config.js";
import { applyCors, preflightResponse } from "./cors.js";
import { errorResponse, FalgateError } from "./errors.js";
import { forward } from "./forward.js";
import { checkWebhook, classifyTarget } from "./policy/index.js";
import type { FalgateEnv, FalgateHandler, FalgateOptions, Principal } from "./types.js";

const METHODS = new Set(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]);

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
  return async function falgate(request: Request, env?: FalgateEnv): Promise<Response> {
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
      if (!METHODS.has(request.method)) {
        throw new FalgateError("method_not_allowed", `Method ${request.method} is not supported.`, {
          headers: { allow: [...METHODS].join(", ") },
        });
      }
      const runtimeEnv = env ?? config.env;
      const principal = await authenticate(request, runtimeEnv, config, verdict);
      const response = await proxy(request, runtimeEnv, principal, config);
      if (corsOrigin !== null) applyCorsToResponse(response, corsOrigin, config);
      return response;
    } catch (error) {
      if (!(error instanceof FalgateError)) {
        config.logger.error("unexpected error in falgate", {
          error: error instanceof Error ? error.name : typeof error,
        });
      }
      return errorResponse(
        error,
        corsOrigin !== null ? applyCors(new Headers(), corsOrigin, config) : undefined,
      );
    }
  };
}

async function proxy(
  request: Request,
  env: FalgateEnv,
  principal: Principal,
  config: ResolvedConfig,
): Promise<Response> {
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
  const key = await resolveKey(request, env, principal, config);
  const startedAt = Date.now();
  const base = { principal, method: request.method, target, endpointId: fal.endpointId };
  if (config.onRequest) await config.onRequest({ ...base, request });
  const onResponse = config.onResponse;
  return forward(
    {
      request,
      target,
      key,
      onEnd: (result) => {
        if (!onResponse) return;
        const { error, ...rest } = result;
        Promise.resolve()
          .then(() =>
            onResponse({ ...base, ...rest, ...(error ? { error } : {}), durationMs: Date.now() - startedAt }),
          )
          .catch((hookError: unknown) =>
            config.logger.error("onResponse hook failed", {
              error: hookError instanceof Error ? hookError.message : String(hookError),
            }),
          );
      },
    },
    config,
  );
}

/** Resolves the fal key: option (string or resolver), then `FAL_KEY`, then `FAL_KEY_ID` + `FAL_KEY_SECRET`. */
async function resolveKey(
  request: Request,
  env: FalgateEnv,
  principal: Principal,
  config: ResolvedConfig,
): Promise<string> {
  const { credentials } = config;
  let key: unknown;
  if (typeof credentials === "function") key = await credentials({ request, env, principal });
  else if (credentials !== undefined) key = credentials;
  else if (typeof env.FAL_KEY === "string" && env.FAL_KEY !== "") key = env.FAL_KEY;
  else if (
    typeof env.FAL_KEY_ID === "string" &&
    typeof env.FAL_KEY_SECRET === "string" &&
    env.FAL_KEY_ID &&
    env.FAL_KEY_SECRET
  ) {
    key = `${env.FAL_KEY_ID}:${env.FAL_KEY_SECRET}`;
  }
  if (typeof key !== "string" || key.trim() === "" || key === "undefined") {
    throw new FalgateError(
      "missing_credentials",
      "The proxy has no fal key. Set FAL_KEY (or FAL_KEY_ID and FAL_KEY_SECRET) or the `credentials` option.",
    );
  }
  return key;
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
