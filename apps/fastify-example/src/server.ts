import { attachTunnel } from "@falgate/fastify";
import { createApp, createExampleFalgate } from "./app.js";

// Settings from the environment. FAL_KEY itself is read by falgate on each request.
const falgate = createExampleFalgate({
  // Development: point at a local `falgate-mock` instead of fal.ai.
  ...(process.env.FALGATE_UPSTREAM ? { upstream: process.env.FALGATE_UPSTREAM } : {}),
});

const app = await createApp(falgate);

// The realtime tunnel shares the HTTP server and the instance; it needs falgate's token secret (32+ bytes).
if (process.env.FALGATE_TOKEN_SECRET) attachTunnel(app.server, falgate);

const address = await app.listen({
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? "127.0.0.1",
});
console.log(`Fastify example on ${address} (proxy at /api/fal/proxy)`);
