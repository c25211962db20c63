import type { FieldError } from "../apps.js";
import { BodyTooLarge, type Ctx, readBody, sendDetail } from "../http.js";

/** Checks `Authorization: Key <key>`; answers 401 and returns false otherwise. */
export function authorized(ctx: Ctx): boolean {
  const header = ctx.req.headers.authorization;
  if (!header) {
    sendDetail(ctx, 401, "Missing authorization header. Send `Authorization: Key <FAL_KEY>`.");
    return false;
  }
  const match = /^key\s+(\S+)\s*$/i.exec(header);
  if (!match || match[1] !== ctx.mock.options.key) {
    sendDetail(ctx, 401, "Invalid credentials.");
    return false;
  }
  return true;
}

/** A parsed app input: JSON body for POST/PUT, query parameters for GET. */
export interface Input {
  value: unknown;
  fromQuery: boolean;
}

/** Reads the app input; answers 413/422 and returns undefined when it is unusable. */
export async function readInput(ctx: Ctx): Promise<Input | undefined> {
  if (ctx.method === "GET" || ctx.method === "HEAD") {
    const query = Object.fromEntries(ctx.url.searchParams);
    delete query.fal_jwt_token;
    delete query.fal_webhook;
    return { value: query, fromQuery: true };
  }
  let body: Buffer;
  try {
    body = await readBody(ctx, ctx.mock.options.jsonLimit);
  } catch (error) {
    if (!(error instanceof BodyTooLarge)) throw error;
    sendDetail(ctx, 413, "Request entity too large");
    return undefined;
  }
  if (body.length === 0) return { value: {}, fromQuery: false };
  try {
    return { value: JSON.parse(body.toString("utf8")), fromQuery: false };
  } catch {
    const detail: FieldError[] = [{ loc: ["body"], msg: "JSON decode error", type: "json_invalid" }];
    sendDetail(ctx, 422, detail);
    return undefined;
  }
}

/** Answers 405 unless the method is one of `allowed`. */
export function allowMethods(ctx: Ctx, ...allowed: string[]): boolean {
  if (allowed.includes(ctx.method)) return true;
  sendDetail(ctx, 405, "Method Not Allowed", { allow: allowed.join(", ") });
  return false;
}
