import type { Server } from "node:http";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
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
import { type Context, Hono } from "hono";
import { describe, expect, test, vi } from "vitest";
import { createFalgateHandler, type HonoContext } from "../src/index.js";
import { createFalgateHandler as createNodeHandler } from "../src/node.js";

const PATH = "/api/fal/proxy";
/** The host the in-process requests below name: not loopback, so it is listed in `allowedHosts` (DNS rebinding check). */
const HOST = "app.test";

/** Hono on @hono/node-server, the proxy mounted as the docs show. */
const start: StartHandler = async (options) => {
  const app = new Hono();
  app.all(`${PATH}/*`, createFalgateHandler({ ...options, logger: silentLogger() }));
  const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  return { url: `${server.origin}${PATH}`, close: server.close };
};

describeConformance({ name: "Hono on @hono/node-server", start });
describeFalClient({ name: "Hono on @hono/node-server", start });

/** The same app with `@falgate/hono/node`: falgate reads and writes Node's own objects under Hono. */
const startNative: StartHandler = async (options) => {
  const app = new Hono();
  app.all(`${PATH}/*`, createNodeHandler({ ...options, logger: silentLogger() }));
  const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  return { url: `${server.origin}${PATH}`, close: server.close };
};

describeConformance({ name: "Hono on @hono/node-server, native (@falgate/hono/node)", start: startNative });
describeFalClient({ name: "Hono on @hono/node-server, native (@falgate/hono/node)", start: startNative });

describe("@falgate/hono/node", () => {
  test("hooks get Hono's context (what a middleware set), and a body a middleware read is forwarded as sent", async () => {
    const mock = await startMockFal();
    const users: unknown[] = [];
    const app = new Hono<{ Variables: { user: string } }>();
    app.use(PATH, async (c, next) => {
      c.set("user", "alice");
      await c.req.json(); // a validator that read the body first
      await next();
    });
    app.all(
      PATH,
      createNodeHandler({
        ...conformanceOptions(mock),
        logger: silentLogger(),
        authorize: (_request, { c }: HonoContext) => {
          users.push(c.get("user"));
          return { id: String(c.get("user")) };
        },
      }),
    );
    const server = await listen(createAdaptorServer({ fetch: app.fetch }) as Server);
    try {
      const body = '{ "prompt": "a cat" }';
      const sent = await send(`${server.origin}${PATH}`, {
        method: "POST",
        headers: { "x-fal-target-url": "https://fal.run/fal-ai/echo", "content-type": "application/json" },
        body,
      });
      expect(sent.status).toBe(200);
      expect(users).toEqual(["alice"]);
      const seen = await mock.waitForRequest((r) => r.method === "POST");
      expect(seen.body?.toString()).toBe(body);
      expect(seen.headers["content-length"]).toBe(String(Buffer.byteLength(body)));
    } finally {
      await server.close();
      await mock.close();
    }
  });
});

test("FAL_KEY comes from the Hono context's env (Worker bindings)", async () => {
  const mock = await startMockFal();
  try {
    const { credentials: _unused, ...options } = conformanceOptions(mock);
    const app = new Hono();
    app.all(PATH, createFalgateHandler({ ...options, logger: silentLogger(), allowedHosts: [HOST] }));
    const request = () =>
      new Request(`http://${HOST}${PATH}`, {
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
    app.all(
      PATH,
      createFalgateHandler({
        ...options,
        env: { FAL_KEY: mock.key },
        logger: silentLogger(),
        allowedHosts: [HOST],
      }),
    );
    const response = await app.fetch(
      new Request(`http://${HOST}${PATH}`, {
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
    app.all(
      PATH,
      createFalgateHandler({ ...conformanceOptions(mock), logger: silentLogger(), allowedHosts: [HOST] }),
    );
    const body = '{ "prompt": "read twice",  "n": 1 }';
    const response = await app.fetch(
      new Request(`http://${HOST}${PATH}`, {
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

test("on Workers, onResponse work is handed to the execution context's waitUntil", async () => {
  const mock = await startMockFal();
  try {
    const hooked: number[] = [];
    const app = new Hono();
    app.all(
      PATH,
      createFalgateHandler({
        ...conformanceOptions(mock),
        allowedHosts: [HOST],
        logger: silentLogger(),
        onResponse: async (info) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          hooked.push(info.status);
        },
      }),
    );
    const kept: Promise<unknown>[] = [];
    const ctx = {
      waitUntil: (promise: Promise<unknown>) => void kept.push(promise),
      passThroughOnException() {},
      props: {},
    };
    const response = await app.fetch(
      new Request(`http://${HOST}${PATH}`, {
        method: "POST",
        headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
        body: "{}",
      }),
      {},
      ctx,
    );
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    await vi.waitFor(() => expect(kept).toHaveLength(1));
    await Promise.all(kept);
    expect(hooked).toEqual([200]);
  } finally {
    await mock.close();
  }
});

describe("a body a middleware already parsed as form data is forwarded consistent with its content-type", () => {
  /** Hono on @hono/node-server with a middleware that reads the body through `read` before falgate runs. */
  async function serve(mock: MockFal, read: (c: Context) => Promise<unknown>) {
    const app = new Hono();
    app.use(PATH, async (c, next) => {
      await read(c);
      await next();
    });
    app.all(PATH, createFalgateHandler({ ...conformanceOptions(mock), logger: silentLogger() }));
    return listen(createAdaptorServer({ fetch: app.fetch }) as Server);
  }

  /** What mock-fal received, parsed with the content-type it received. */
  async function received(mock: MockFal): Promise<{ contentType: string; form: [string, string][] }> {
    const seen = await mock.waitForRequest((r) => r.method === "POST");
    const contentType = String(seen.headers["content-type"]);
    const form = await new Request("http://mock.test", {
      method: "POST",
      headers: { "content-type": contentType },
      body: seen.body ? new Uint8Array(seen.body) : null,
    }).formData();
    const entries: [string, string][] = [];
    for (const [name, value] of form)
      entries.push([name, typeof value === "string" ? value : await value.text()]);
    return { contentType, form: entries };
  }

  const post = (origin: string, headers: Record<string, string>, body: string | Buffer) =>
    send(`${origin}${PATH}`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo", ...headers },
      body,
    });

  test("application/x-www-form-urlencoded after c.req.formData()", async () => {
    const mock = await startMockFal();
    const server = await serve(mock, (c) => c.req.formData());
    try {
      const sent = await post(
        server.origin,
        { "content-type": "application/x-www-form-urlencoded" },
        "prompt=a+cat&n=2&note=%C3%A9t%C3%A9",
      );
      expect(sent.status).toBe(200);
      const { contentType, form } = await received(mock);
      expect(contentType).toBe("application/x-www-form-urlencoded");
      expect(form).toEqual([
        ["prompt", "a cat"],
        ["n", "2"],
        ["note", "été"],
      ]);
    } finally {
      await server.close();
      await mock.close();
    }
  });

  test("multipart/form-data after c.req.formData(): the content-type names the boundary actually sent", async () => {
    const mock = await startMockFal();
    const server = await serve(mock, (c) => c.req.formData());
    try {
      const form = new FormData();
      form.set("prompt", "a cat");
      form.set("image", new Blob(["\u0000\u00ffpng"], { type: "image/png" }), "cat.png");
      const encoded = new Response(form);
      const sent = await post(
        server.origin,
        { "content-type": encoded.headers.get("content-type")! },
        Buffer.from(await encoded.arrayBuffer()),
      );
      expect(sent.status).toBe(200);
      const { contentType, form: entries } = await received(mock);
      expect(contentType).toMatch(/^multipart\/form-data; boundary=/);
      expect(entries).toEqual([
        ["prompt", "a cat"],
        ["image", "\u0000\u00ffpng"],
      ]);
    } finally {
      await server.close();
      await mock.close();
    }
  });

  test("multipart/form-data after c.req.parseBody() is forwarded byte for byte", async () => {
    const mock = await startMockFal();
    const server = await serve(mock, (c) => c.req.parseBody());
    try {
      const form = new FormData();
      form.set("prompt", "a cat");
      const encoded = new Response(form);
      const contentType = encoded.headers.get("content-type")!;
      const body = Buffer.from(await encoded.arrayBuffer());
      expect((await post(server.origin, { "content-type": contentType }, body)).status).toBe(200);
      const seen = await mock.waitForRequest((r) => r.method === "POST");
      expect(seen.headers["content-type"]).toBe(contentType);
      expect(seen.body?.equals(body)).toBe(true);
    } finally {
      await server.close();
      await mock.close();
    }
  });
});
