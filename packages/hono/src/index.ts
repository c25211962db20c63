import { createFalgate, type FalgateContext, type FalgateEnv, type FalgateOptions } from "@falgate/core";
import type { Context, HonoRequest } from "hono";

export type { FalgateOptions } from "@falgate/core";
export {
  createFalWebhookHandler,
  type FalWebhookHonoCallback,
  type FalWebhookOptions,
  type FalWebhookPayload,
} from "./webhook.js";

/** A Hono route handler answering with the falgate `Response`. */
export type FalgateHonoHandler = (c: Context) => Promise<Response>;

/**
 * Creates a Hono handler for the fal proxy route. Each request's env is layered: `process.env` where the
 * runtime has one (read live), then the Hono context's `c.env` (Worker bindings, so `FAL_KEY` can be a Worker
 * secret), then `options.env`; the first layer that has a name wins from the top. On Workers the execution
 * context is passed on, so `onResponse` work runs under `waitUntil`.
 * @example
 * const app = new Hono();
 * app.all("/api/fal/proxy", createFalgateHandler({ authorize: (req) => session(req) }));
 */
export function createFalgateHandler(options: FalgateOptions = {}): FalgateHonoHandler {
  const handler = createFalgate(options);
  const base = (globalThis as { process?: { env?: FalgateEnv } }).process?.env ?? {};
  const extra = options.env;
  return async (c) => {
    let env = layer(base, c.env);
    if (extra) env = layer(env, extra);
    return handler(await rawRequest(c), env, executionContext(c));
  };
}

// Hono's getter throws where the runtime gave no context (@hono/node-server, Bun, Deno).
function executionContext(c: Context): FalgateContext | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

// A prototype link, not a copy: lookups fall through to the layer below and nothing is cloned per request.
function layer(below: FalgateEnv, above: unknown): FalgateEnv {
  if (above === null || typeof above !== "object") return below;
  return Object.assign(Object.create(below) as FalgateEnv, above);
}

// A validator or middleware that read the body (`c.req.json()`, `formData()`, `parseBody()`) has consumed the raw
// stream; Hono keeps what it read, so rebuild the request from it (same method, headers and abort signal) instead
// of failing on a used stream.
async function rawRequest(c: Context): Promise<Request> {
  const raw = c.req.raw;
  if (!raw.bodyUsed) return raw;
  const headers = new Headers(raw.headers);
  headers.delete("content-length");
  return new Request(raw, { body: await cachedBody(c.req, headers), headers });
}

// The cached bytes or text are the body as sent. Parsed form data (`c.req.formData()` read first) must be
// re-encoded, and a rebuilt multipart body has a new boundary, so the content-type follows it.
async function cachedBody(req: HonoRequest, headers: Headers): Promise<BodyInit> {
  const cache = req.bodyCache;
  const sent = (await cache.arrayBuffer) ?? (await cache.text) ?? (await cache.blob);
  if (sent !== undefined) return sent;
  const form = await cache.formData;
  if (form === undefined) return req.arrayBuffer();
  const type = headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") {
    const params = new URLSearchParams();
    for (const [name, value] of form) if (typeof value === "string") params.append(name, value);
    return params;
  }
  const rebuilt = new Response(form);
  headers.set("content-type", rebuilt.headers.get("content-type") ?? "multipart/form-data");
  return rebuilt.arrayBuffer();
}
