/**
 * SLOW (about half a minute): builds apps/astro-example with `astro build` (@astrojs/node, standalone mode) once,
 * then runs the conformance suite and the official client against the adapter's own server,
 * `node dist/server/entry.mjs`, each start on an ephemeral port with the suite's options in env vars; and the
 * example's custom server (`server.mjs`: the build's handler plus the realtime tunnel).
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
const APP = join(REPO_ROOT, "apps/astro-example");
const ENV = { ...process.env, NODE_ENV: "production" as const, ASTRO_TELEMETRY_DISABLED: "1", NO_COLOR: "1" };

beforeAll(async () => {
  // The example consumes the packages the way users do, from their built `dist/`.
  await buildPackages(["core", "astro"]);
  await run(join(APP, "node_modules/.bin/astro"), ["build"], {
    cwd: APP,
    env: ENV,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 360_000);

/** The standalone server with the suite's options given as the example app reads them. */
function startBuild(env: Record<string, string> = {}): Promise<ServerProcess> {
  return startServerProcess("dist/server/entry.mjs", {
    cwd: APP,
    env: { ...ENV, HOST: "127.0.0.1", PORT: "0", ...env },
    ready: /Server listening on (http:\/\/[\w.:[\]]+)/,
  });
}

const start: StartHandler = async (options) => {
  // The example pins its endpoint allowlist in src/lib/falgate.ts; the suite must be asking for the same.
  expect(options.allowedEndpoints).toEqual(ALLOWED_ENDPOINTS);
  const server = await startBuild({
    FAL_KEY: options.credentials,
    FALGATE_UPSTREAM: options.upstream,
    FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
  });
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "Astro (astro build, @astrojs/node standalone)", start });
describeFalClient({ name: "Astro (astro build, @astrojs/node standalone)", start });

describe("Astro specifics (astro build, @astrojs/node standalone)", () => {
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

  test("the app's middleware keeps Astro's origin check for its other routes; the proxy takes bodies without Origin", async () => {
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const crossSite = await send(`${server.origin}/`, {
      method: "POST",
      headers: { ...form, origin: "https://evil.example" },
      body: "a=1",
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.text()).toBe("Cross-site POST form submissions are forbidden");
    const noType = await send(`${server.origin}/`, { method: "POST", body: "a=1" });
    expect(noType.status).toBe(403);

    for (const headers of [form, {}]) {
      const proxied = await send(`${server.origin}/api/fal/proxy`, {
        method: "POST",
        headers: { ...SAME_ORIGIN, ...headers, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
        body: "a=1",
      });
      expect(proxied.status).toBe(200);
      const seen = await mock.waitForRequest((r) => r.method === "POST" && r.complete);
      expect(seen.body?.toString()).toBe("a=1");
      mock.reset();
    }
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

  test("404 and 500 answers reach the client as sent, not replaced by Astro's error pages", async () => {
    // No token secret is configured in this server: the token route answers falgate's 404 for falgate tokens.
    const missing = await send(`${server.origin}/api/fal/proxy/token`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "content-type": "application/json" },
      body: JSON.stringify({ app: "fal-ai/fast-sdxl/realtime", type: "falgate" }),
    });
    expect(missing.status).toBe(404);
    expect(missing.json<{ error: { code: string } }>().error.code).toBe("not_found");
    expect(missing.headers["x-astro-reroute"]).toBeUndefined();

    mock.fault({ kind: "status", status: 500, body: { detail: "boom" } });
    const failed = await send(`${server.origin}/api/fal/proxy`, {
      method: "POST",
      headers: {
        ...SAME_ORIGIN,
        "content-type": "application/json",
        "x-fal-target-url": "https://fal.run/fal-ai/echo",
      },
      body: "{}",
    });
    expect(failed.status).toBe(500);
    expect(failed.json()).toEqual({ detail: "boom" });
  });

  test("the page that calls the proxy is served", async () => {
    const page = await send(`${server.origin}/`);
    expect(page.status).toBe(200);
    expect(page.text()).toContain("falgate + Astro");
    expect(page.text()).not.toContain(mock.key);
  });
});

describe("Astro custom server with the realtime tunnel (server.mjs: the entry's handler + attachTunnel)", () => {
  let mock: MockFal;
  let server: ServerProcess;
  beforeAll(async () => {
    // server.mjs imports @falgate/node from its dist/.
    await buildPackages(["node"]);
    mock = await startMockFal();
    server = await startServerProcess("server.mjs", {
      cwd: APP,
      env: {
        ...ENV,
        HOST: "127.0.0.1",
        PORT: "0",
        FAL_KEY: mock.key,
        FALGATE_UPSTREAM: mock.url,
        FALGATE_TOKEN_SECRET: "astro-example-secret-of-at-least-32-bytes",
      },
      ready: /Server listening on (http:\/\/[\w.:[\]]+)/,
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
      socket.socket.send("hello through astro");
      expect((await socket.next()).data.toString()).toContain("hello through astro");
      expect(mock.requests.find((r) => r.websocket)?.headers.authorization).toBe(`Key ${mock.key}`);
    } finally {
      socket.close();
    }
  });

  test("plain HTTP calls and pages go through the build's handler as with the standalone server", async () => {
    const a = await send(`${server.origin}/api/fal/proxy`, {
      method: "POST",
      headers: {
        ...SAME_ORIGIN,
        "content-type": "application/json",
        "x-fal-target-url": "https://fal.run/fal-ai/echo",
      },
      body: '{"via":"server.mjs"}',
    });
    expect(a.status).toBe(200);
    expect(a.json()).toEqual({ via: "server.mjs" });
    expect((await send(`${server.origin}/`)).text()).toContain("falgate + Astro");
  });
});
