import {
  describeConformance,
  describeFalClient,
  type StartHandler,
  send,
  silentLogger,
} from "@falgate/testkit";
import type { FastifyInstance } from "fastify";
import { expect, test } from "vitest";
import { createApp, createExampleFalgate } from "../src/app.js";

async function serve(app: FastifyInstance) {
  const origin = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    origin,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

/** The example app exactly as it ships, with the suite's options layered on top. */
const start: StartHandler = async (options) => {
  const server = await serve(await createApp(createExampleFalgate({ ...options, logger: silentLogger() })));
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "apps/fastify-example", start });
describeFalClient({ name: "apps/fastify-example", start });

test("serves the page that calls the proxy, and its own JSON route still parses bodies", async () => {
  const server = await serve(
    await createApp(createExampleFalgate({ credentials: "unused", logger: silentLogger() })),
  );
  try {
    const page = await send(`${server.origin}/`);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.text()).toContain('"x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl"');
    expect(page.text()).not.toContain("unused");
    const note = await send(`${server.origin}/api/notes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"text":"hi"}',
    });
    expect(note.json()).toEqual({ saved: { text: "hi" } });
  } finally {
    await server.close();
  }
});
