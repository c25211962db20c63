/**
 * SLOW (about half a minute): builds apps/sveltekit-example with `vite build` (adapter-node) once, then runs the
 * conformance suite and the official client against the adapter's own server, `node build`, each start on an
 * ephemeral port with the suite's options in env vars; and the example's custom server (`server.js`: adapter-node's
 * handler plus the realtime tunnel).
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import {
  ALLOWED_ENDPOINTS,
  buildPackages,
  conformanceOptions,
  describeConformance,
  describeFalClient,
  openSocket,
  REPO_ROOT,
  SAME_ORIGIN,
  type StartHandler,
  send,
} from "@falgate/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type ServerProcess, startServerProcess } from "./server-process.js";

const run = promisify(execFile);
const APP = join(REPO_ROOT, "apps/sveltekit-example");
const ENV = { ...process.env, NODE_ENV: "production" as const };

beforeAll(async () => {
  // The example consumes the packages the way users do, from their built `dist/`.
  await buildPackages(["core", "sveltekit"]);
  await run(join(APP, "node_modules/.bin/vite"), ["build"], {
    cwd: APP,
    env: ENV,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 360_000);

/** `node build` (adapter-node's server) with the suite's options given as the example app reads them. */
function startBuild(env: Record<string, string> = {}): Promise<ServerProcess> {
  return startServerProcess("build/index.js", {
    cwd: APP,
    env: { ...ENV, HOST: "127.0.0.1", PORT: "0", ...env },
    ready: /Listening on (http:\/\/\S+)/,
  });
}

const start: StartHandler = async (options) => {
  // The example pins its endpoint allowlist in src/lib/server/falgate.ts; the suite must be asking for the same.
  expect(options.allowedEndpoints).toEqual(ALLOWED_ENDPOINTS);
  const server = await startBuild({
    FAL_KEY: options.credentials,
    FALGATE_UPSTREAM: options.upstream,
    FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
    // adapter-node refuses bodies over 512 KiB by default, before the route runs; falgate has its own cap.
    BODY_SIZE_LIMIT: "Infinity",
  });
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "SvelteKit (vite build, adapter-node)", start });
describeFalClient({ name: "SvelteKit (vite build, adapter-node)", start });

describe("SvelteKit specifics (vite build, adapter-node)", () => {
  let mock: MockFal;
  let server: ServerProcess;
  beforeAll(async () => {
    mock = await startMockFal();
    const options = conformanceOptions(mock);
    server = await startBuild({ FAL_KEY: options.credentials, FALGATE_UPSTREAM: options.upstream });
  });
  afterAll(async () => {
    await server?.close();
    await mock?.close();
  });
  afterEach(() => mock.reset());

  test("the app's hook keeps SvelteKit's CSRF check for its other routes; the proxy takes a multipart body without Origin", async () => {
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const crossSite = await send(`${server.origin}/`, {
      method: "POST",
      headers: { ...form, origin: "https://evil.example" },
      body: "a=1",
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.text()).toBe("Cross-site POST form submissions are forbidden");
    const noOrigin = await send(`${server.origin}/`, { method: "POST", headers: form, body: "a=1" });
    expect(noOrigin.status).toBe(403);

    const proxied = await send(`${server.origin}/api/fal/proxy`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, ...form, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
      body: "a=1",
    });
    expect(proxied.status).toBe(200);
    const seen = await mock.waitForRequest((r) => r.method === "POST" && r.complete);
    expect(seen.body?.toString()).toBe("a=1");
  });

  test("a cross-site Origin on the proxy is still refused, by falgate", async () => {
    const a = await send(`${server.origin}/api/fal/proxy`, {
      method: "POST",
      headers: {
        origin: "https://evil.example",
        "content-type": "multipart/form-data; boundary=x",
        "x-fal-target-url": "https://fal.run/fal-ai/echo",
      },
      body: "--x--\r\n",
    });
    expect(a.status).toBe(403);
    expect(a.json<{ error: { code: string } }>().error.code).toBe("origin_not_allowed");
  });

  test("a body sent without content-type is dropped by SvelteKit before the route runs (documented limit)", async () => {
    // @sveltejs/kit/node's getRequest only reads a body when the request has a content-type; browsers and
    // @fal-ai/client always send one with a body.
    const a = await send(`${server.origin}/api/fal/proxy`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
      body: '{"x":1}',
    });
    expect(a.status).toBe(200);
    const seen = await mock.waitForRequest((r) => r.method === "POST" && r.complete);
    expect(seen.bodyLength).toBe(0);
  });

  test("the page that calls the proxy is served", async () => {
    const page = await send(`${server.origin}/`);
    expect(page.status).toBe(200);
    expect(page.text()).toContain("falgate + SvelteKit");
    expect(page.text()).not.toContain(mock.key);
  });
});

describe("SvelteKit custom server with the realtime tunnel (server.js: build/handler.js + attachTunnel)", () => {
  let mock: MockFal;
  let server: ServerProcess;
  beforeAll(async () => {
    // server.js imports @falgate/node from its dist/.
    await buildPackages(["node"]);
    mock = await startMockFal();
    server = await startServerProcess("server.js", {
      cwd: APP,
      env: {
        ...ENV,
        HOST: "127.0.0.1",
        PORT: "0",
        FAL_KEY: mock.key,
        FALGATE_UPSTREAM: mock.url,
        FALGATE_TOKEN_SECRET: "sveltekit-example-secret-of-at-least-32-bytes",
      },
      ready: /Listening on (http:\/\/\S+)/,
    });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await mock?.close();
  });

  test("the route mints a falgate token; the tunnel on the same server relays to fal with the key", async () => {
    const minted = await send(`${server.origin}/api/fal/proxy/token`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "content-type": "application/json" },
      body: JSON.stringify({ app: "fal-ai/echo/realtime", type: "falgate" }),
    });
    expect(minted.status).toBe(200);
    const url = `${server.origin.replace(/^http/, "ws")}/api/fal/proxy/fal-ai/echo/realtime`;
    const socket = await openSocket(`${url}?fal_jwt_token=${encodeURIComponent(minted.json<string>())}`);
    try {
      socket.socket.send("hello through sveltekit");
      expect((await socket.next()).data.toString()).toContain("hello through sveltekit");
      expect(mock.requests.find((r) => r.websocket)?.headers.authorization).toBe(`Key ${mock.key}`);
    } finally {
      socket.close();
    }
  });

  test("plain HTTP calls go through adapter-node's handler as with `node build`", async () => {
    const a = await send(`${server.origin}/api/fal/proxy`, {
      method: "POST",
      headers: {
        ...SAME_ORIGIN,
        "content-type": "application/json",
        "x-fal-target-url": "https://fal.run/fal-ai/echo",
      },
      body: '{"via":"server.js"}',
    });
    expect(a.status).toBe(200);
    expect(a.json()).toEqual({ via: "server.js" });
  });
});
