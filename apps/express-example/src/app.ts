import { createFalgateHandler, type FalgateExpressOptions } from "@falgate/express";
import express from "express";
import { PAGE } from "./page.js";

/**
 * The example app: a page, your own JSON API, and the fal proxy mounted as docs/adapters/express.md shows.
 * `options` are merged over the defaults below (the server passes env-driven settings, tests pass the mock).
 */
export function createApp(options: FalgateExpressOptions = {}): express.Express {
  const app = express();
  // Your API's body parser. falgate works with or without it: a parsed body is re-encoded.
  app.use(express.json());

  app.use(
    "/api/fal/proxy",
    createFalgateHandler({
      // Only these fal apps can be called through the proxy.
      allowedEndpoints: ["fal-ai/*"],
      // No `authorize` hook: only same-origin pages (and `allowedOrigins`) may call. In a real app, return
      // the signed-in user here: authorize: async (req) => (await getSession(req)) ? { id: session.userId } : null
      ...options,
    }),
  );

  app.get("/", (_req, res) => {
    res.type("html").send(PAGE);
  });
  return app;
}
