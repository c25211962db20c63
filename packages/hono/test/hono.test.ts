import type { Server } from "node:http";
import { startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  describeConformance,
  describeFalClient,
  listen,
  SAME_ORIGIN,
  type StartHandler,
  send,
  silentLogger,
} from "@falgate/testkit";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { expect, test } from "vitest";
import { createFalgateHandler } from "../src/index.js";

const PATH = "/api/fal/proxy";

/** Hono on @hono/node-server, the proxy mounted as the docs show. */
const start: StartHandler = async (options) => {
  const app = new Hono();
  app.all(`${PATH}/*`, createFalgateHandler({ ...options, logger: silentLogger() }));
  const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  return { url: `${server.origin}${PATH}`, close: server.close };
};

describeConformance({ name: "Hono on @hono/node-server", start });
describeFalClient({ name: "Hono on @hono/node-server", start });

test("FAL_KEY comes from the Hono context's env (Worker bindings)", async () => {
  const mock = await startMockFal();
  try {
    const { credentials: _unused, ...options } = conformanceOptions(mock);
    const app = new Hono();
    app.all(PATH, createFalgateHandler({ ...options, logger: silentLogger() }));
    const request = () =>
      new Request(`http://app.test${PATH}`, {
        method: "POST",
        headers: {
          ...SAME_ORIGIN,
          "x-fal-target-url": "https://fal.run/fal-ai/echo",
          "content-type": "application/json",
        },
        body: "{}",
      });
    // This is how the Workers runtime calls a Hono app: app.fetch(request, env, ctx).
    const withBinding = await app.fetch(request(), { FAL_KEY: mock.key });
    expect(withBinding.status).toBe(200);
    const seen = await mock.waitForRequest(() => true);
    expect(seen.headers.authorization).toBe(`Key ${mock.key}`);

    const withoutBinding = await app.fetch(request(), {});
    expect(withoutBinding.status).toBe(500);
    expect(((await withoutBinding.json()) as { error: { code: string } }).error.code).toBe(
      "missing_credentials",
    );
  } finally {
    await mock.close();
  }
});

test("options.env wins over the context's env, which wins over process.env", async () => {
  const mock = await startMockFal();
  try {
    const { credentials: _unused, ...options } = conformanceOptions(mock);
    const app = new Hono();
    app.all(PATH, createFalgateHandler({ ...options, env: { FAL_KEY: mock.key }, logger: silentLogger() }));
    const response = await app.fetch(
      new Request(`http://app.test${PATH}`, {
        method: "POST",
        headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
        body: "{}",
      }),
      { FAL_KEY: "wrong-key-from-bindings" },
    );
    expect(response.status).toBe(200);
    expect((await mock.waitForRequest(() => true)).headers.authorization).toBe(`Key ${mock.key}`);
  } finally {
    await mock.close();
  }
});

test("on @hono/node-server, where c.env holds the Node request, FAL_KEY comes from process.env at request time", async () => {
  const mock = await startMockFal();
  const before = process.env.FAL_KEY;
  const { credentials: _unused, ...options } = conformanceOptions(mock);
  const app = new Hono();
  app.all(PATH, createFalgateHandler({ ...options, logger: silentLogger() }));
  const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  const call = () =>
    send(`${server.origin}${PATH}`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
      body: "{}",
    });
  try {
    delete process.env.FAL_KEY;
    expect((await call()).status).toBe(500);
    process.env.FAL_KEY = mock.key;
    expect((await call()).status).toBe(200);
    expect((await mock.waitForRequest(() => true)).headers.authorization).toBe(`Key ${mock.key}`);
  } finally {
    if (before === undefined) delete process.env.FAL_KEY;
    else process.env.FAL_KEY = before;
    await server.close();
    await mock.close();
  }
});

test("a body already read by a middleware (c.req.json()) is still forwarded byte for byte", async () => {
  const mock = await startMockFal();
  try {
    const app = new Hono();
    let parsed: unknown;
    app.use(PATH, async (c, next) => {
      parsed = await c.req.json();
      await next();
    });
    app.all(PATH, createFalgateHandler({ ...conformanceOptions(mock), logger: silentLogger() }));
    const body = '{ "prompt": "read twice",  "n": 1 }';
    const response = await app.fetch(
      new Request(`http://app.test${PATH}`, {
        method: "POST",
        headers: {
          ...SAME_ORIGIN,
          "x-fal-target-url": "https://fal.run/fal-ai/echo",
          "content-type": "application/json",
        },
        body,
      }),
    );
    expect(response.status).toBe(200);
    expect(parsed).toEqual({ prompt: "read twice", n: 1 });
    const seen = await mock.waitForRequest(() => true);
    expect(seen.body?.toString()).toBe(body);
  } finally {
    await mock.close();
  }
});
