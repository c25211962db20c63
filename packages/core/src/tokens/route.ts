import { FalgateError } from "../errors.js";
import { classifyTarget } from "../policy/index.js";
import { normaliseAppId } from "./apps.js";
import {
  checkAlias,
  DEFAULT_FAL_TOKEN_EXPIRATION,
  type FalTokenContext,
  falTokenBody,
  readSmallJson,
} from "./fal.js";
import type { TokenIssuer } from "./jwt.js";

/** The two kinds of token the token route mints. */
export type TokenKind = "fal" | "falgate";

/** What the token route needs from the handler. */
export interface TokenRouteContext extends FalTokenContext {
  /** The falgate token issuer for this env, or `null` when no token secret/keys are configured. */
  issuer: TokenIssuer | null;
  /**
   * Sends `POST https://rest.fal.ai/tokens/` with this JSON body the way the proxy forwards any call
   * (key injected, upstream override, hooks) and returns fal's answer (the JWT as a JSON string).
   */
  forwardFalToken(body: string): Promise<Response>;
}

/** True when a request without `x-fal-target-url` is meant for the token route (path ends in `/token`). */
export function isTokenRoute(request: Request): boolean {
  try {
    return new URL(request.url).pathname.replace(/\/+$/, "").endsWith("/token");
  } catch {
    return false;
  }
}

/**
 * The token route behind `tokenProvider(app)`: `POST {mount}/token` with JSON `{ "app": "owner/app[/path]",
 * "type"?: "falgate" | "fal" }` (or `?app=&type=`). Answers the token as a JSON string, exactly like fal's
 * token endpoint, so `tokenProvider: (app) => fetch(...).then((r) => r.json())` works as is.
 *
 * - `falgate` (the default when falgate tokens are configured): a falgate token for the tunnel, scoped to
 *   this principal and exactly this app id (and the paths below it), carrying the principal's `endpoints`
 *   limits so the tunnel refuses what the HTTP proxy would.
 * - `fal` (the default otherwise): a fal token for direct `wss://fal.run` connections, minted with the
 *   key; fal scopes those by alias only, so prefer the tunnel when owners matter.
 * @throws FalgateError `method_not_allowed`, `invalid_body`, `endpoint_not_allowed`, `not_found`
 */
export async function handleTokenRoute(request: Request, ctx: TokenRouteContext): Promise<Response> {
  if (request.method !== "POST") {
    throw new FalgateError("method_not_allowed", "Tokens are requested with POST.", {
      headers: { allow: "POST" },
    });
  }
  const { app: rawApp, type } = await readTokenRequest(request);
  const app = normaliseAppId(rawApp);
  if (app === null) {
    throw new FalgateError(
      "invalid_body",
      'Name the app as `app`, e.g. {"app":"fal-ai/fast-lcm-diffusion"}.',
    );
  }
  const kind: TokenKind = type ?? (ctx.issuer !== null ? "falgate" : "fal");
  const target = classifyTarget(new URL(`https://fal.run/${app}`));
  if (!ctx.endpoints.allows(target, ctx.principal.endpoints)) {
    throw new FalgateError("endpoint_not_allowed", `Endpoint ${app} is not allowed for this proxy.`);
  }

  if (kind === "falgate") {
    if (ctx.issuer === null) {
      throw new FalgateError(
        "not_found",
        "falgate tokens are not configured: set `tokens.secret` (or FALGATE_TOKEN_SECRET) to use the realtime tunnel.",
      );
    }
    const { endpoints } = ctx.principal;
    const { token } = await ctx.issuer.issue({
      subject: ctx.principal.id,
      apps: [app],
      ...(endpoints === undefined ? {} : { endpoints }),
    });
    return jsonString(token);
  }

  const alias = target.alias;
  if (!alias) throw new FalgateError("invalid_body", `${app} is not an app id fal can mint a token for.`);
  checkAlias(alias, ctx);
  return ctx.forwardFalToken(falTokenBody([alias], ctx.maxExpiration ?? DEFAULT_FAL_TOKEN_EXPIRATION));
}

async function readTokenRequest(request: Request): Promise<{ app: unknown; type: TokenKind | undefined }> {
  const query = new URL(request.url).searchParams;
  let app: unknown = query.get("app") ?? undefined;
  let type: unknown = query.get("type") ?? undefined;
  const hasBody = request.body !== null && request.headers.get("content-length") !== "0";
  if (app === undefined && hasBody) {
    const body = await readSmallJson(request);
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new FalgateError("invalid_body", "A token request is a JSON object with `app`.");
    }
    ({ app, type = type } = body as { app?: unknown; type?: unknown });
  }
  if (type !== undefined && type !== "fal" && type !== "falgate") {
    throw new FalgateError("invalid_body", '`type` must be "falgate" or "fal".');
  }
  return { app, type };
}

function jsonString(token: string): Response {
  return new Response(JSON.stringify(token), {
    status: 200,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}
