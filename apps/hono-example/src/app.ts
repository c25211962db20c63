import { createFalgateHandler, type FalgateOptions } from "@falgate/hono";
import { Hono } from "hono";

/**
 * The example app: a page and the fal proxy mounted as docs/adapters/hono.md shows. The same app runs on
 * @hono/node-server (src/server.ts) and on Workers (`export default app`), where FAL_KEY is a Worker secret.
 */
export function createApp(options: FalgateOptions = {}): Hono {
  const app = new Hono();
  // `/*` also covers the mount itself, and the token route below it (`/api/fal/proxy/token`).
  app.all(
    "/api/fal/proxy/*",
    createFalgateHandler({
      // Only these fal apps can be called through the proxy.
      allowedEndpoints: ["fal-ai/*"],
      ...options,
    }),
  );
  app.get("/", (c) =>
    c.html(
      '<!doctype html><title>falgate + Hono</title><h1>falgate + Hono</h1><p>The fal proxy is at <code>/api/fal/proxy</code>: configure <code>@fal-ai/client</code> with <code>proxyUrl: "/api/fal/proxy"</code>.</p>',
    ),
  );
  return app;
}
