import type { Falgate, FalgateOptions } from "@falgate/core";
import { toFalgate } from "@falgate/core/binding";
import { createNodeHandler } from "@falgate/node";
import type { Context } from "hono";
import {
  createFalgateHandler as createWebHandler,
  type FalgateHonoHandler,
  type HonoContext,
} from "./index.js";

export { createFalgate, type FalgateHonoHandler, type HonoContext } from "./index.js";

type NodeRequest = Parameters<ReturnType<typeof createNodeHandler>>[0];
type NodeResponse = Parameters<ReturnType<typeof createNodeHandler>>[1];

// `@hono/node-server` writes nothing for a body-less response carrying this header: the answer was written to
// `outgoing`. Built at import, like node-server's own RESPONSE_ALREADY_SENT: once `serve()` runs, the global
// `Response` is node-server's lighter class, whose cached answers skip that check.
const ALREADY_SENT = new Response(null, { headers: { "x-hono-already-sent": "1" } });

/**
 * The Hono handler for `@hono/node-server`: the request is read and the answer written on Node's own objects
 * (undici and Node streams, no Web `Request`/`Response` per call), as fast as the standalone server. Elsewhere
 * (Workers, Bun, Deno), for HEAD, and when a middleware parsed the body as form data, it is the Web handler of
 * `@falgate/hono`. Middleware running after this handler cannot change the answer on Node: it was already written
 * (set CORS and other headers with falgate's options instead).
 * @example
 * import { serve } from "@hono/node-server";
 * app.all("/api/fal/proxy/*", createFalgateHandler(falgate));
 * serve(app);
 */
export function createFalgateHandler(
  falgate: Falgate<HonoContext> | FalgateOptions<HonoContext> = {},
): FalgateHonoHandler {
  const instance = toFalgate(falgate);
  const web = createWebHandler(instance);
  const calls = new WeakMap<NodeRequest, { c: Context; kept: Uint8Array | undefined }>();
  const node = createNodeHandler<HonoContext, NodeRequest, NodeResponse>(instance, {
    context: (req) => ({ c: calls.get(req)!.c }),
    keptBody: (req) => calls.get(req)?.kept,
  });
  return async (c) => {
    const bindings = c.env as { incoming?: NodeRequest; outgoing?: NodeResponse } | undefined;
    const cache = c.req.bodyCache;
    // HEAD too: Hono re-wraps a HEAD answer in a new Response, which node-server would write again.
    if (!bindings?.incoming || !bindings.outgoing || cache.formData || bindings.incoming.method === "HEAD") {
      return web(c);
    }
    // A middleware that read the body left it in Hono's cache (bytes or text as sent).
    const read = cache.arrayBuffer || cache.text || cache.blob || cache.json;
    const kept = read ? new Uint8Array(await c.req.arrayBuffer()) : undefined;
    calls.set(bindings.incoming, { c, kept });
    await node(bindings.incoming, bindings.outgoing);
    return ALREADY_SENT;
  };
}
