import { FalgateError } from "../errors.js";
import type { EndpointPolicy } from "../policy/index.js";
import type { CallInput } from "../proxy/input.js";
import type { Principal } from "../types.js";

/** Largest token request body falgate reads. */
export const MAX_TOKEN_BODY = 16 * 1024;
/** Most aliases one fal token request may name. */
const MAX_ALLOWED_APPS = 16;
const ALIAS = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$/;

/** What the fal token interception needs from the handler. */
export interface FalTokenContext {
  principal: Principal;
  endpoints: EndpointPolicy;
  /** Largest `token_expiration` in seconds (also the value when the body has none). */
  maxExpiration: number;
}

/**
 * Polices a browser's `POST https://rest.fal.ai/tokens/` and returns the body to forward instead (and its aliases):
 * every `allowed_apps` alias must be allowed for this principal, `token_expiration` is clamped to
 * `maxExpiration` (and set to it when absent), unknown fields are dropped.
 * @throws FalgateError `method_not_allowed`, `payload_too_large`, `invalid_body`, `endpoint_not_allowed`
 */
export async function rewriteFalTokenRequest(
  input: CallInput,
  ctx: FalTokenContext,
): Promise<{ body: string; aliases: string[] }> {
  if (input.method !== "POST") {
    throw new FalgateError("method_not_allowed", "fal tokens are requested with POST.", {
      headers: { allow: "POST" },
    });
  }
  const body = await readSmallJson(input);
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new FalgateError("invalid_body", "A fal token request is a JSON object with `allowed_apps`.");
  }
  const { allowed_apps: apps, token_expiration: expiration } = body as Record<string, unknown>;
  if (!Array.isArray(apps) || apps.length === 0 || apps.length > MAX_ALLOWED_APPS) {
    throw new FalgateError(
      "invalid_body",
      `\`allowed_apps\` must list 1 to ${MAX_ALLOWED_APPS} app aliases.`,
    );
  }
  const aliases: string[] = [];
  for (const alias of apps) {
    if (typeof alias !== "string" || !ALIAS.test(alias)) {
      throw new FalgateError(
        "invalid_body",
        '`allowed_apps` entries must be app aliases such as "fast-sdxl".',
      );
    }
    checkAlias(alias, ctx);
    if (!aliases.includes(alias)) aliases.push(alias);
  }
  return { body: falTokenBody(aliases, clampExpiration(expiration, ctx.maxExpiration)), aliases };
}

/** The JSON body of a fal token request falgate sends for `aliases`. */
export function falTokenBody(aliases: readonly string[], expiration: number): string {
  return JSON.stringify({ allowed_apps: aliases, token_expiration: expiration });
}

/**
 * Refuses an alias the endpoint policy or the principal's narrowing does not allow. fal tokens open an alias under
 * every owner, so only a pattern naming the app allows one (see {@link EndpointPolicy.allowsAlias}).
 */
export function checkAlias(alias: string, ctx: FalTokenContext): void {
  if (!ctx.endpoints.allowsAlias(alias, ctx.principal.endpoints)) {
    throw new FalgateError(
      "endpoint_not_allowed",
      `A fal token for app ${JSON.stringify(alias)} is not allowed for this proxy: fal tokens open that app name ` +
        "under every owner, so `allowedEndpoints` must name the app itself (an owner wildcard such as `fal-ai/*` " +
        'is not enough). Or use the falgate tunnel (`type: "falgate"`), scoped to the exact app id.',
    );
  }
}

/**
 * Refuses a fal token request whose URL carries a query (`?allowed_apps=*&token_expiration=86400`): only the
 * policed body may reach fal, and fal's token endpoint takes no query from the official client.
 * @throws FalgateError `invalid_target`
 */
export function checkFalTokenTarget(target: URL): void {
  if (target.href.includes("?")) {
    throw new FalgateError(
      "invalid_target",
      "A fal token request (https://rest.fal.ai/tokens/) takes no query string: send the apps in the JSON body.",
    );
  }
}

function clampExpiration(value: unknown, max: number): number {
  if (value === undefined || value === null) return max;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 1) {
    throw new FalgateError("invalid_body", "`token_expiration` must be a positive number of seconds.");
  }
  return Math.min(Math.floor(value), max);
}

/**
 * Reads a JSON body of at most `limit` bytes without trusting `content-length`; an empty body reads as `undefined`.
 * @throws FalgateError `payload_too_large` or `invalid_body`
 */
export async function readSmallJson(input: CallInput, limit = MAX_TOKEN_BODY): Promise<unknown> {
  const declared = Number(input.header("content-length") ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  let bytes: Uint8Array;
  try {
    bytes = await input.readBody(limit);
  } catch (error) {
    if (error instanceof FalgateError && error.code === "payload_too_large") throw tooLarge(limit);
    throw error;
  }
  if (bytes.byteLength === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new FalgateError("invalid_body", "The request body is not valid JSON.");
  }
}

function tooLarge(limit: number): FalgateError {
  return new FalgateError("payload_too_large", `Token requests are limited to ${limit} bytes.`);
}
