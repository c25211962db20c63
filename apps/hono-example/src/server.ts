import type { Server } from "node:http";
import { createFalgateHandler } from "@falgate/hono/node";
import { attachTunnel } from "@falgate/node";
import { serve } from "@hono/node-server";
import { createApp, createExampleFalgate } from "./app.js";

// Development: point at a local `falgate-mock` instead of fal.ai. FAL_KEY is read from process.env per request.
const falgate = createExampleFalgate(
  process.env.FALGATE_UPSTREAM ? { upstream: process.env.FALGATE_UPSTREAM } : {},
);
const port = Number(process.env.PORT ?? 3000);

// On Node, `@falgate/hono/node` reads and writes Node's own request and response (no Web streams per call).
const server = serve({ fetch: createApp(falgate, createFalgateHandler).fetch, port }, (info) => {
  console.log(`Hono example on http://localhost:${info.port} (proxy at /api/fal/proxy)`);
});

// The realtime tunnel shares the HTTP server and the instance; it needs falgate's token secret (32+ bytes).
if (process.env.FALGATE_TOKEN_SECRET) attachTunnel(server as Server, falgate);
