import { createServer } from "node:http";
import {
  describeConformance,
  describeFalClient,
  listen,
  type StartHandler,
  send,
  silentLogger,
} from "@falgate/testkit";
import { expect, test } from "vitest";
import { createApp, createExampleFalgate } from "../src/app.js";

/** The example app exactly as it ships, with the suite's options layered on top. */
const start: StartHandler = async (options) => {
  const server = await listen(
    createServer(createApp(createExampleFalgate({ ...options, logger: silentLogger() }))),
  );
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "apps/express-example", start });
describeFalClient({ name: "apps/express-example", start });

test("serves the page that calls the proxy", async () => {
  const server = await listen(
    createServer(createApp(createExampleFalgate({ credentials: "unused", logger: silentLogger() }))),
  );
  try {
    const page = await send(`${server.origin}/`);
    expect(page.status).toBe(200);
    expect(page.text()).toContain('"x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl"');
    expect(page.text()).not.toContain("unused");
  } finally {
    await server.close();
  }
});
