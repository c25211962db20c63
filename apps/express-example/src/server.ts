import { attachTunnel } from "@falgate/express";
import { createApp, createExampleFalgate } from "./app.js";

// Settings from the environment. FAL_KEY itself is read by falgate on each request.
const falgate = createExampleFalgate({
  // Development: point at a local `falgate-mock` instead of fal.ai.
  ...(process.env.FALGATE_UPSTREAM ? { upstream: process.env.FALGATE_UPSTREAM } : {}),
});

const port = Number(process.env.PORT ?? 3000);
const server = createApp(falgate).listen(port, () => {
  console.log(`Express example on http://localhost:${port} (proxy at /api/fal/proxy)`);
});

// The realtime tunnel shares the HTTP server and the instance; it needs falgate's token secret (32+ bytes).
if (process.env.FALGATE_TOKEN_SECRET) attachTunnel(server, falgate);
