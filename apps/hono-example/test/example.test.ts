import type { Server } from "node:http";
import { createFalgateHandler } from "@falgate/hono/node";
import {
  describeConformance,
  describeFalClient,
  listen,
  type StartHandler,
  send,
  silentLogger,
} from "@falgate/testkit";
import { createAdaptorServer } from "@hono/node-server";
import { expect, test } from "vitest";
import { createApp, createExampleFalgate } from "../src/app.js";

/** The example app as src/server.ts ships it (@hono/node-server, the Node handler), with the suite's options on top. */
const start: StartHandler = async (options) => {
  const app = createApp(createExampleFalgate({ ...options, logger: silentLogger() }), createFalgateHandler);
  const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "apps/hono-example", start });
describeFalClient({ name: "apps/hono-example", start });

test("serves its page", async () => {
  const app = createApp(createExampleFalgate({ credentials: "unused", logger: silentLogger() }));
  const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  try {
    const page = await send(`${server.origin}/`);
    expect(page.status).toBe(200);
    expect(page.text()).toContain("/api/fal/proxy");
  } finally {
    await server.close();
  }
});
