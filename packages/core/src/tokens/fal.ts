import { FalgateError } from "../errors.js";
import type { EndpointPolicy } from "../policy/index.js";
import type { Principal } from "../types.js";

/** Default and maximum `token_expiration` (seconds) falgate lets a browser ask fal for. */
export const DEFAULT_FAL_TOKEN_EXPIRATION = 120;
/** Largest token request body falgate reads. */
export const MAX_TOKEN_BODY = 16 * 1024;
/** Most aliases one fal token request may name. */
const MAX_ALLOWED_APPS = 16;
const ALIAS = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$/;
const TOKEN_HOSTS = new Set(["rest.fal.ai", "rest.alpha.fal.ai"]);

/** What the fal token interception needs from the handler. */
export interface FalTokenContext {
  principal: Principal;
  endpoints: EndpointPolicy;
  /** Largest `token_expiration` in seconds (also the default when the body has none). @default 120 */
  maxExpiration?: number;
}

/** True when `target` is fal's token endpoint (`https://rest.fal.ai/tokens/`, or the older `rest.alpha`). */
export function isFalTokenTarget(target: URL): boolean {
  return (
    target.protocol === "https:" &&
    TOKEN_HOSTS.has(target.hostname) &&
    (target.pathname === "/tokens/" || target.pathname === "/tokens")
  );
}

/**
 * Polices a browser's `POST https://rest.fal.ai/tokens/` and returns the body to forward instead:
 * every `allowed_apps` alias must be allowed for this principal, `token_expiration` is clamped to
 * `maxExpiration` (and set to it when absent), unknown fields are dropped.
 * @throws FalgateError `method_not_allowed`, `payload_too_large`, `invalid_body`, `endpoint_not_allowed`
 */
export async function rewriteFalTokenRequest(request: Request, ctx: FalTokenContext): Promise<string> {
  if (request.method !== "POST") {
    throw new FalgateError("method_not_allowed", "fal tokens are requested with POST.", {
      headers: { allow: "POST" },
    });
  }
  const body = await readSmallJson(request);
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
  return falTokenBody(
    aliases,
    clampExpiration(expiration, ctx.maxExpiration ?? DEFAULT_FAL_TOKEN_EXPIRATION),
  );
}

/** The JSON body of a fal token request falgate sends for `aliases`. */
export function falTokenBody(aliases: readonly string[], expiration: number): string {
  return JSON.stringify({ allowed_apps: aliases, token_expiration: expiration });
}

/** Refuses an alias the endpoint policy or the principal's narrowing does not allow. */
export function checkAlias(alias: string, ctx: FalTokenContext): void {
  if (!ctx.endpoints.allowsAlias(alias, ctx.principal.endpoints)) {
    throw new FalgateError(
      "endpoint_not_allowed",
      `A token for app ${JSON.stringify(alias)} is not allowed for this proxy.`,
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
 * Reads a JSON body of at most `limit` bytes without trusting `content-length`.
 * @throws FalgateError `payload_too_large` or `invalid_body`
 */
export async function readSmallJson(request: Request, limit = MAX_TOKEN_BODY): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  if (request.body === null) throw new FalgateError("invalid_body", "The request has no body.");
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new FalgateError("invalid_body", "The request body is not valid JSON.");
  }
}

function tooLarge(limit: number): FalgateError {
  return new FalgateError("payload_too_large", `Token requests are limited to ${limit} bytes.`);
}
