import type { FieldError } from "../apps.js";
import { type Ctx, sendDetail, sendJson } from "../http.js";
import { allowMethods, authorized, readInput } from "./common.js";

/** Longest `token_expiration` the mock accepts (fal's own maximum is unverified). */
export const MAX_TOKEN_EXPIRATION = 86_400;

/** Path of the webhook key set (fal documents it on `rest.fal.ai`). */
export const JWKS_PATH = "/.well-known/jwks.json";

/** `rest.fal.ai` / `rest.alpha.fal.ai`: `/tokens/`, storage upload initiation and the webhook key set. */
export async function handleRest(ctx: Ctx): Promise<void> {
  const path = ctx.url.pathname;
  if (path === JWKS_PATH) {
    // Public, like fal's: no key needed.
    if (!allowMethods(ctx, "GET", "HEAD")) return;
    ctx.requestId = "";
    return sendJson(ctx, 200, ctx.mock.webhooks.jwks(), { "cache-control": "public, max-age=600" });
  }
  const route =
    path === "/tokens/" || path === "/tokens"
      ? tokens
      : path === "/storage/upload/initiate"
        ? initiate(false)
        : path === "/storage/upload/initiate-multipart"
          ? initiate(true)
          : undefined;
  if (!route) return sendDetail(ctx, 404, "Not Found");
  if (!authorized(ctx) || !allowMethods(ctx, "POST")) return;
  return route(ctx);
}

async function tokens(ctx: Ctx): Promise<void> {
  const input = await readInput(ctx);
  if (!input) return;
  const body = (typeof input.value === "object" && input.value !== null ? input.value : {}) as Record<
    string,
    unknown
  >;
  const errors: FieldError[] = [];
  const apps = body.allowed_apps;
  if (!Array.isArray(apps) || apps.length === 0 || !apps.every((a) => typeof a === "string" && a !== "")) {
    errors.push({
      loc: ["body", "allowed_apps"],
      msg: "Input should be a non-empty list of app names",
      type: "list_type",
    });
  }
  const expiration = body.token_expiration ?? 120;
  if (
    typeof expiration !== "number" ||
    !Number.isInteger(expiration) ||
    expiration < 1 ||
    expiration > MAX_TOKEN_EXPIRATION
  ) {
    errors.push({
      loc: ["body", "token_expiration"],
      msg: `Input should be an integer between 1 and ${MAX_TOKEN_EXPIRATION}`,
      type: "int_range",
    });
  }
  if (errors.length > 0) return sendDetail(ctx, 422, errors);
  const token = await ctx.mock.tokens.mint(apps as string[], expiration as number);
  sendJson(ctx, 200, token);
}

function initiate(multipart: boolean): (ctx: Ctx) => Promise<void> {
  return async (ctx) => {
    const input = await readInput(ctx);
    if (!input) return;
    const body = (typeof input.value === "object" && input.value !== null ? input.value : {}) as Record<
      string,
      unknown
    >;
    const contentType =
      typeof body.content_type === "string" ? body.content_type : "application/octet-stream";
    const fileName =
      typeof body.file_name === "string" && body.file_name !== "" ? body.file_name : "upload.bin";
    const entry = ctx.mock.files.create(fileName, contentType, multipart);
    sendJson(ctx, 200, { upload_url: ctx.mock.files.uploadUrl(entry), file_url: entry.url });
  };
}
