import {
  createFalgate,
  createFalgateHandler,
  type Falgate,
  type FalgateOptions,
  type HonoContext,
} from "@falgate/hono";
import { Hono } from "hono";

/** The example's falgate instance, `options` merged over the defaults. */
export function createExampleFalgate(options: FalgateOptions<HonoContext> = {}): Falgate<HonoContext> {
  // Only these fal apps can be called through the proxy. fal tokens (scoped by app name, for every owner) are only
  // minted for apps named exactly, like fast-sdxl here; `fal-ai/*` alone allows none.
  return createFalgate({ allowedEndpoints: ["fal-ai/*", "fal-ai/fast-sdxl"], ...options });
}

/**
 * The example app: a page and the fal proxy mounted as docs/adapters/hono.md shows. The same app runs on
 * @hono/node-server (src/server.ts, which mounts the native Node handler) and on Workers (`export default app`),
 * where FAL_KEY is a Worker secret.
 */
export function createApp(
  falgate: Falgate<HonoContext> = createExampleFalgate(),
  handler: typeof createFalgateHandler = createFalgateHandler,
): Hono {
  const app = new Hono();
  // `/*` also covers the mount itself, and the token route below it (`/api/fal/proxy/token`).
  app.all("/api/fal/proxy/*", handler(falgate));
  app.get("/", (c) =>
    c.html(
      '<!doctype html><title>falgate + Hono</title><h1>falgate + Hono</h1><p>The fal proxy is at <code>/api/fal/proxy</code>: configure <code>@fal-ai/client</code> with <code>proxyUrl: "/api/fal/proxy"</code>.</p>',
    ),
  );
  return app;
}
