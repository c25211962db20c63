import {
  createFalgate,
  createFalgateHandler,
  type ExpressContext,
  type Falgate,
  type FalgateOptions,
} from "@falgate/express";
import express from "express";
import { PAGE } from "./page.js";

/** The example's falgate instance: `options` are merged over the defaults (the server passes env settings, tests the mock). */
export function createExampleFalgate(options: FalgateOptions<ExpressContext> = {}): Falgate<ExpressContext> {
  return createFalgate({
    // Only these fal apps can be called through the proxy. fal tokens (scoped by app name, for every
    // owner) are only minted for apps named exactly, like fast-sdxl here; `fal-ai/*` alone allows none.
    allowedEndpoints: ["fal-ai/*", "fal-ai/fast-sdxl"],
    // No `authorize` hook: only same-origin pages (and `allowedOrigins`) may call. In a real app, return the
    // signed-in user: authorize: (request, { req }) => (req.user ? { id: req.user.id } : null)
    ...options,
  });
}

/** The example app: a page, your own JSON API, and the fal proxy mounted as docs/adapters/express.md shows. */
export function createApp(falgate: Falgate<ExpressContext> = createExampleFalgate()): express.Express {
  const app = express();
  // Your API's body parser. falgate works with or without it: a parsed body is re-encoded.
  app.use(express.json());

  app.use("/api/fal/proxy", createFalgateHandler(falgate));

  app.get("/", (_req, res) => {
    res.type("html").send(PAGE);
  });
  return app;
}
