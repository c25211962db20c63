import { type MockFal, startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  describeConformance,
  describeFalClient,
  openSocket,
  SAME_ORIGIN,
  type StartHandler,
  send,
  silentLogger,
} from "@falgate/testkit";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  attachTunnel,
  createFalgate,
  createFalgateHandler,
  type FalgateOptions,
  type FastifyContext,
  falgatePlugin,
} from "../src/index.js";

const PATH = "/api/fal/proxy";
const ECHO = "https://fal.run/fal-ai/echo";

declare module "fastify" {
  interface FastifyRequest {
    user?: { id: string } | null;
  }
}

/** Listens on an ephemeral loopback port; `close()` drops open connections, then closes Fastify. */
async function serve(app: FastifyInstance): Promise<{ origin: string; close(): Promise<void> }> {
  const origin = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    origin,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

/** A Fastify app with the plugin registered under PATH, plus a JSON route of the app's own next to it. */
function appWith(falgate: FalgateOptions<FastifyContext>): FastifyInstance {
  const app = Fastify();
  app.post("/api/echo-json", async (request) => ({ parsed: request.body }));
  void app.register(falgatePlugin, { prefix: PATH, falgate });
  return app;
}

const plugin: StartHandler = async (options) => {
  const server = await serve(appWith({ ...options, logger: silentLogger() }));
  return { url: `${server.origin}${PATH}`, close: server.close };
};

// The handler on its own, where the app bypasses the parsers itself (a single wildcard route, no prefix).
const bareHandler: StartHandler = async (options) => {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null));
  app.all(`${PATH}`, createFalgateHandler({ ...options, logger: silentLogger() }));
  app.all(`${PATH}/*`, createFalgateHandler({ ...options, logger: silentLogger() }));
  const server = await serve(app);
  return { url: `${server.origin}${PATH}`, close: server.close };
};

describeConformance({ name: "Fastify 5, falgatePlugin with a prefix", start: plugin });
describeConformance({ name: "Fastify 5, createFalgateHandler on app.all", start: bareHandler });
describeFalClient({ name: "Fastify 5", start: plugin });

describe("Fastify specifics", () => {
  let mock: MockFal;
  const closers: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    mock = await startMockFal();
  });
  afterAll(() => mock.close());
  afterEach(async () => {
    mock.reset();
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  async function start(app: FastifyInstance): Promise<string> {
    const server = await serve(app);
    closers.push(server.close);
    return server.origin;
  }

  test("the parsers are bypassed only inside the plugin: the app's own routes still parse JSON", async () => {
    const origin = await start(appWith({ ...conformanceOptions(mock), logger: silentLogger() }));
    const own = await send(`${origin}/api/echo-json`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"a":1}',
    });
    expect(own.json()).toEqual({ parsed: { a: 1 } });
    // A content type Fastify has no parser for reaches fal byte for byte instead of a 415.
    const proxied = await send(`${origin}${PATH}`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "x-fal-target-url": ECHO, "content-type": "application/x-ndjson" },
      body: '{"a":1}\n{"b":2}\n',
    });
    expect(proxied.status).toBe(200);
    const seen = await mock.waitForRequest((r) => r.method === "POST" && r.complete);
    expect(seen.body?.toString()).toBe('{"a":1}\n{"b":2}\n');
    expect(seen.headers["content-type"]).toBe("application/x-ndjson");
  });

  test("hooks get Fastify's own request and reply; what an onRequest hook decorated is there", async () => {
    const seen: Array<{ user: unknown; url: string; hasReply: boolean }> = [];
    const app = Fastify();
    app.decorateRequest("user", null);
    // What @fastify/jwt's `request.jwtVerify()` or a session plugin does, in a parent-level hook.
    app.addHook("onRequest", async (request) => {
      request.user = request.headers["x-test-user"] ? { id: String(request.headers["x-test-user"]) } : null;
    });
    await app.register(falgatePlugin, {
      prefix: PATH,
      falgate: createFalgate({
        ...conformanceOptions(mock),
        logger: silentLogger(),
        authorize: (_request, { request, reply }) => {
          seen.push({ user: request.user, url: request.url, hasReply: typeof reply.hijack === "function" });
          return request.user ?? null;
        },
      }),
    });
    const origin = await start(app);
    const call = (headers: Record<string, string>) =>
      send(`${origin}${PATH}`, {
        method: "POST",
        headers: { "x-fal-target-url": ECHO, "content-type": "application/json", ...headers },
        body: "{}",
      });
    expect((await call({ "x-test-user": "user-7" })).status).toBe(200);
    expect((await call({})).status).toBe(401);
    expect(seen).toEqual([
      { user: { id: "user-7" }, url: PATH, hasReply: true },
      { user: null, url: PATH, hasReply: true },
    ]);
    expect(mock.requests).toHaveLength(1);
  });

  test("a route registered next to the plugin is not shadowed, and a path outside the prefix is Fastify's 404", async () => {
    const app = appWith({ ...conformanceOptions(mock), logger: silentLogger() });
    app.get("/health", async () => ({ ok: true }));
    const origin = await start(app);
    expect((await send(`${origin}/health`)).json()).toEqual({ ok: true });
    const outside = await send(`${origin}/api/fal/proxyx`, { method: "POST", headers: SAME_ORIGIN });
    expect(outside.status).toBe(404);
    expect(mock.requests).toHaveLength(0);
  });

  test("attachTunnel(app.server, falgate): the token route and the realtime tunnel share the instance", async () => {
    const falgate = createFalgate({
      ...conformanceOptions(mock),
      logger: silentLogger(),
      tokens: { secret: "fastify-tunnel-secret-of-at-least-32-bytes" },
    });
    const app = Fastify();
    await app.register(falgatePlugin, { prefix: PATH, falgate });
    const tunnel = attachTunnel(app.server, falgate);
    closers.push(() => tunnel.close());
    const origin = await start(app);
    const minted = await send(`${origin}${PATH}/token`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "content-type": "application/json" },
      body: JSON.stringify({ app: "fal-ai/echo/realtime", type: "falgate" }),
    });
    expect(minted.status).toBe(200);
    const token = minted.json<string>();
    const socket = await openSocket(
      `${origin.replace(/^http/, "ws")}${PATH}/fal-ai/echo/realtime?fal_jwt_token=${encodeURIComponent(token)}`,
    );
    try {
      socket.socket.send("hello through fastify");
      const frame = await socket.next();
      expect(frame.data.toString()).toContain("hello through fastify");
      const upstream = mock.requests.find((r) => r.websocket);
      expect(upstream?.headers.authorization).toBe(`Key ${mock.key}`);
    } finally {
      socket.close();
    }
  });
});
