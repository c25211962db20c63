import {
  createFalgate as createCore,
  type Falgate,
  type FalgateEnv,
  type FalgateOptions,
} from "@falgate/core";
import { bindingOf, toFalgate } from "@falgate/core/binding";
import type { Context, HonoRequest } from "hono";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";
export {
  createFalWebhookHandler,
  type FalWebhookHonoCallback,
  type FalWebhookOptions,
  type FalWebhookPayload,
} from "./webhook.js";

/** What hooks receive from Hono: its `Context` (`c.get("user")`, `c.env`, ...). */
export interface HonoContext {
  c: Context;
}

/** A Hono route handler answering with the falgate `Response`. */
export type FalgateHonoHandler = (c: Context) => Promise<Response>;

/**
 * Creates the falgate instance of a Hono app, with hooks typed for Hono.
 * @example
 * const falgate = createFalgate({ authorize: (request, { c }) => c.get("user") ?? null });
 */
export function createFalgate(options: FalgateOptions<HonoContext> = {}): Falgate<HonoContext> {
  return createCore<HonoContext>(options);
}

/**
 * Creates a Hono handler for the fal proxy route (Workers, Bun, Deno, and Node through the Web path; on
 * `@hono/node-server`, `@falgate/hono/node` moves bytes natively). The platform env is `c.env` (Worker bindings,
 * so `FAL_KEY` can be a Worker secret) over `process.env` where the runtime has one; `options.env` is layered on
 * top. On Workers the execution context is passed on, so `onResponse` work runs under `waitUntil`.
 * @example
 * const app = new Hono();
 * app.all("/api/fal/proxy/*", createFalgateHandler({ authorize: (request, { c }) => c.get("user") ?? null }));
 */
export function createFalgateHandler(
  falgate: Falgate<HonoContext> | FalgateOptions<HonoContext> = {},
): FalgateHonoHandler {
  const instance = toFalgate(falgate);
  // Validates the instance once (a foreign object fails here, not on the first request).
  bindingOf(instance);
  return async (c) => {
    const ctx = executionContext(c);
    return instance.handle(await rawRequest(c), {
      env: platformEnv(c.env),
      context: { c },
      ip: clientAddress(c, ctx !== undefined),
      ...(ctx ? { waitUntil: ctx.waitUntil.bind(ctx) } : {}),
    });
  };
}

const processEnv = (globalThis as { process?: { env?: FalgateEnv } }).process?.env;
const layered = new WeakMap<object, FalgateEnv>();

/**
 * Hono's `c.env` over `process.env` where there is one (a prototype link: read live, nothing copied per request).
 * `@hono/node-server` puts its `incoming`/`outgoing` there, not env vars: then `process.env` alone.
 */
export function platformEnv(env: unknown): FalgateEnv {
  if (env === null || typeof env !== "object" || "incoming" in env) return processEnv ?? {};
  if (processEnv === undefined) return env as FalgateEnv;
  let both = layered.get(env);
  if (both === undefined) {
    both = Object.assign(Object.create(processEnv) as FalgateEnv, env);
    layered.set(env, both);
  }
  return both;
}

/**
 * The client's address: on Workers (an execution context exists) Cloudflare's `cf-connecting-ip`, which the edge sets
 * and a client cannot; on `@hono/node-server` the socket's. Elsewhere `null` (`trustProxy` reads `x-forwarded-for`).
 */
function clientAddress(c: Context, workers: boolean): string | null {
  if (workers) return c.req.header("cf-connecting-ip") ?? null;
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? null;
}

// Hono's getter throws where the runtime gave no context (@hono/node-server, Bun, Deno).
function executionContext(c: Context): { waitUntil(promise: Promise<unknown>): void } | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
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

/**
 * The body a middleware already read, as Hono cached it: the bytes or text as sent, or parsed form data re-encoded
 * (a rebuilt multipart body has a new boundary, so `headers`' content-type follows it).
 */
export async function cachedBody(
  req: HonoRequest,
  headers: Headers,
): Promise<ArrayBuffer | string | Blob | URLSearchParams> {
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
