import { createFalgate, type FalgateEnv, type FalgateOptions } from "@falgate/core";
import type { Context } from "hono";

export type { FalgateOptions } from "@falgate/core";

/** A Hono route handler answering with the falgate `Response`. */
export type FalgateHonoHandler = (c: Context) => Promise<Response>;

/**
 * Creates a Hono handler for the fal proxy route. Each request's env is layered: `process.env` where the
 * runtime has one (read live), then the Hono context's `c.env` (Worker bindings, so `FAL_KEY` can be a Worker
 * secret), then `options.env`; the first layer that has a name wins from the top.
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
    return handler(await rawRequest(c), env);
  };
}

// A prototype link, not a copy: lookups fall through to the layer below and nothing is cloned per request.
function layer(below: FalgateEnv, above: unknown): FalgateEnv {
  if (above === null || typeof above !== "object") return below;
  return Object.assign(Object.create(below) as FalgateEnv, above);
}

// A validator or middleware that called `c.req.json()` has consumed the raw body; Hono keeps a copy, so rebuild
// the request from it (same method, headers and abort signal) instead of failing on a used stream.
async function rawRequest(c: Context): Promise<Request> {
  const raw = c.req.raw;
  if (!raw.bodyUsed) return raw;
  const headers = new Headers(raw.headers);
  headers.delete("content-length");
  return new Request(raw, { body: await c.req.arrayBuffer(), headers });
}
