import { createServer } from "node:http";
import type { Falgate } from "@falgate/core";
import { startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  describeConformance,
  describeFalClient,
  fetchListener,
  listen,
  SAME_ORIGIN,
  type StartHandler,
  send,
  silentLogger,
} from "@falgate/testkit";
import {
  createApp,
  createRouter,
  defineEventHandler,
  type EventHandler,
  type H3Event,
  readBody,
  readRawBody,
  toNodeListener,
  toWebHandler,
} from "h3";
import { expect, test } from "vitest";
import { createFalgate, createFalgateHandler as createWebHandler, type H3Context } from "../src/index.js";
import { createFalgateHandler as createNodeHandler } from "../src/node.js";

type Factory = (falgate: Falgate<H3Context>) => EventHandler;

/** An h3 app on Node's http server, the proxy at `/api/fal/proxy` and below, as a Nitro route would mount it. */
async function serve(handler: EventHandler, before?: EventHandler) {
  const app = createApp();
  if (before) app.use(before);
  const router = createRouter();
  router.use("/api/fal/proxy", handler);
  router.use("/api/fal/proxy/**", handler);
  app.use(router);
  return listen(createServer(toNodeListener(app)));
}

function starter(factory: Factory): StartHandler {
  return async (options) => {
    const server = await serve(factory(createFalgate({ ...options, logger: silentLogger() })));
    return { url: `${server.origin}/api/fal/proxy`, close: server.close };
  };
}

/**
 * The Node handler where the event has no Node socket behind it: h3's `toWebHandler` (as Nitro's in-process
 * `$fetch` and its Web presets) builds events on mock request objects with `event.web.request`; the handler must fall
 * back to the Web path. Served over loopback through a Fetch-to-Node bridge, so the suite can reach it.
 */
const webHandlerStart: StartHandler = async (options) => {
  const app = createApp();
  const router = createRouter();
  const handler = createNodeHandler(createFalgate({ ...options, logger: silentLogger() }));
  router.use("/api/fal/proxy", handler);
  router.use("/api/fal/proxy/**", handler);
  app.use(router);
  const server = await listen(createServer(fetchListener(toWebHandler(app))));
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "h3 toWebHandler (the Node handler's Web fallback)", start: webHandlerStart });
describeFalClient({ name: "h3 toWebHandler (the Node handler's Web fallback)", start: webHandlerStart });

/** Why the Web handler served by h3 1.x on a Node server skips the truncation checks. */
const H3_WEB_ON_NODE_TRUNCATION =
  "h3 1.x (sendStream) never ends a Node answer whose Web body failed, so the client waits instead of seeing the " +
  "error (never a clean end either); on a Node server use @falgate/h3/node, which aborts the connection";

for (const [name, factory] of [
  ["h3 (Web handler)", createWebHandler],
  ["h3 (Node handler)", createNodeHandler],
] as const) {
  describeConformance({
    name,
    start: starter(factory),
    ...(factory === createWebHandler ? { skip: { truncated: H3_WEB_ON_NODE_TRUNCATION } } : {}),
  });
  describeFalClient({ name, start: starter(factory) });

  test(`${name}: hooks receive the h3 event (event.context set by a middleware)`, async () => {
    const mock = await startMockFal();
    const seen: unknown[] = [];
    const falgate = createFalgate({
      ...conformanceOptions(mock),
      logger: silentLogger(),
      authorize: (_request, { event }) => {
        seen.push(event.context.user);
        return (event.context.user as { id: string } | undefined) ?? null;
      },
    });
    const server = await serve(
      factory(falgate),
      defineEventHandler((event) => {
        if (event.headers.get("x-session") === "ok") event.context.user = { id: "u1" };
      }),
    );
    try {
      const call = (session: string) =>
        send(`${server.origin}/api/fal/proxy`, {
          method: "POST",
          headers: { "x-fal-target-url": "https://fal.run/fal-ai/echo", "x-session": session },
          body: "{}",
        });
      expect((await call("ok")).status).toBe(200);
      expect((await call("no")).status).toBe(401);
      expect(seen).toEqual([{ id: "u1" }, undefined]);
    } finally {
      await server.close();
      await mock.close();
    }
  });

  test.each([
    ["readBody", (event: H3Event) => readBody(event)],
    ["readRawBody", (event: H3Event) => readRawBody(event)],
  ] as const)(`${name}: a body a middleware read with %s is forwarded as sent`, async (_label, read) => {
    const mock = await startMockFal();
    const server = await serve(
      factory(createFalgate({ ...conformanceOptions(mock), logger: silentLogger() })),
      defineEventHandler(async (event) => {
        if (event.method === "POST") await read(event);
      }),
    );
    try {
      const body = '{"prompt":"read before"}';
      const a = await send(`${server.origin}/api/fal/proxy`, {
        method: "POST",
        headers: {
          ...SAME_ORIGIN,
          "x-fal-target-url": "https://fal.run/fal-ai/echo",
          "content-type": "application/json",
        },
        body,
      });
      expect(a.status).toBe(200);
      const seen = await mock.waitForRequest((r) => r.method === "POST" && r.complete);
      expect(seen.body?.toString()).toBe(body);
    } finally {
      await server.close();
      await mock.close();
    }
  });
}
