import { FalgateError } from "../errors.js";
import { classifyTarget } from "../policy/index.js";
import type { CallInput } from "../proxy/input.js";
import { jsonReply, type Reply } from "../proxy/reply.js";
import type { Principal } from "../types.js";
import { normaliseAppId } from "./apps.js";
import { checkAlias, type FalTokenContext, falTokenBody, readSmallJson } from "./fal.js";
import type { TokenIssuer } from "./jwt.js";

/** The two kinds of token the token route mints. */
export type TokenKind = "fal" | "falgate";

/** What the token route needs from the pipeline. */
export interface TokenRouteContext extends FalTokenContext {
  /** The falgate token issuer for this env, or `null` when no token secret/keys are configured. */
  issuer: TokenIssuer | null;
}

/**
 * What the token route decided once every check passed: mint a falgate token with {@link mintFalgateToken}, or
 * forward this body to fal's token endpoint. Nothing is minted yet, so the `onRequest` hook can still refuse.
 */
export type TokenRouteResult =
  | { type: "falgate"; app: string; issuer: TokenIssuer }
  | { type: "fal"; app: string; falTokenBody: string };

/** True when a path (without `x-fal-target-url`) is meant for the token route (it ends in `/token`). */
export function isTokenPath(pathname: string): boolean {
  return pathname.replace(/\/+$/, "").endsWith("/token");
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
export async function tokenRoute(input: CallInput, ctx: TokenRouteContext): Promise<TokenRouteResult> {
  if (input.method !== "POST") {
    throw new FalgateError("method_not_allowed", "Tokens are requested with POST.", {
      headers: { allow: "POST" },
    });
  }
  const { app: rawApp, type } = await readTokenRequest(input);
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
    return { type: "falgate", app, issuer: ctx.issuer };
  }

  const alias = target.alias;
  if (!alias) throw new FalgateError("invalid_body", `${app} is not an app id fal can mint a token for.`);
  checkAlias(alias, ctx);
  return { type: "fal", app, falTokenBody: falTokenBody([alias], ctx.maxExpiration) };
}

/** Mints the falgate token the token route decided on: the answer is the token as a JSON string, like fal's. */
export async function mintFalgateToken(
  issuer: TokenIssuer,
  principal: Principal,
  app: string,
): Promise<Reply> {
  const { endpoints } = principal;
  const { token } = await issuer.issue({
    subject: principal.id,
    apps: [app],
    ...(endpoints === undefined ? {} : { endpoints }),
  });
  return jsonReply(200, token);
}

async function readTokenRequest(input: CallInput): Promise<{ app: unknown; type: TokenKind | undefined }> {
  const query = new URL(input.url).searchParams;
  let app: unknown = query.get("app") ?? undefined;
  let type: unknown = query.get("type") ?? undefined;
  const body = app === undefined ? await readSmallJson(input) : undefined;
  if (body !== undefined) {
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
