import {
  createFalgate,
  type Falgate,
  type FalgateOptions,
  type FastifyContext,
  falgatePlugin,
} from "@falgate/fastify";
import Fastify, { type FastifyInstance } from "fastify";
import { PAGE } from "./page.js";

/** The example's falgate instance: `options` are merged over the defaults (the server passes env settings, tests the mock). */
export function createExampleFalgate(options: FalgateOptions<FastifyContext> = {}): Falgate<FastifyContext> {
  return createFalgate({
    // Only these fal apps can be called through the proxy. fal tokens (scoped by app name, for every
    // owner) are only minted for apps named exactly, like fast-sdxl here; `fal-ai/*` alone allows none.
    allowedEndpoints: ["fal-ai/*", "fal-ai/fast-sdxl"],
    // No `authorize` hook: only same-origin pages (and `allowedOrigins`) may call. In a real app, return the
    // signed-in user (`@fastify/jwt`, a session plugin): authorize: (request, { request: req }) => req.user ?? null
    ...options,
  });
}

/** The example app: a page, a JSON route of your own, and the fal proxy registered as docs/adapters/fastify.md shows. */
export async function createApp(
  falgate: Falgate<FastifyContext> = createExampleFalgate(),
): Promise<FastifyInstance> {
  const app = Fastify();

  // The proxy streams bodies raw: inside this plugin, and only there, Fastify's body parsing is bypassed.
  await app.register(falgatePlugin, { prefix: "/api/fal/proxy", falgate });

  // Your own routes keep Fastify's parsers.
  app.post("/api/notes", async (request) => ({ saved: request.body }));
  app.get("/", async (_request, reply) => reply.type("text/html").send(PAGE));
  return app;
}
