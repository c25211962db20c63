/**
 * h3 2: the few lines docs/adapters/nuxt.md gives for it (the core called with `event.req`), on h3 2's own Node
 * handler (srvx), through the conformance suite and the official client.
 */
import { createServer } from "node:http";
import { createFalgate } from "@falgate/core";
import {
  describeConformance,
  describeFalClient,
  listen,
  type StartHandler,
  silentLogger,
} from "@falgate/testkit";
import { defineHandler, H3, type H3Event, toNodeHandler } from "h3-v2";

const start: StartHandler = async (options) => {
  const falgate = createFalgate<{ event: H3Event }>({ ...options, logger: silentLogger() });
  const handler = defineHandler((event) =>
    falgate.handle(event.req, { env: process.env, context: { event } }),
  );
  const app = new H3().all("/api/fal/proxy", handler).all("/api/fal/proxy/**", handler);
  const server = await listen(createServer(toNodeHandler(app)));
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "h3 2 (the core on event.req)", start });
describeFalClient({ name: "h3 2 (the core on event.req)", start });
