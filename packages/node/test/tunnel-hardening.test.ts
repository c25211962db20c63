import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import type { FalgateOptions as NodeTunnelOptions } from "@falgate/core";
import { createTokenIssuer } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { attachTunnel, type NodeTunnel } from "../src/tunnel.js";

// `new WebSocket()` toward this host throws synchronously, as ws does for a URL it refuses (e.g. one with a
// fragment): the tunnel must survive it whatever the gate lets through.
vi.mock("ws", async (importOriginal) => {
  const actual = await importOriginal<typeof import("ws")>();
  class ThrowingWebSocket extends actual.WebSocket {
    constructor(address: string | URL, options?: import("ws").ClientOptions) {
      if (new URL(String(address)).hostname === "throws.invalid") {
        throw new SyntaxError("The URL contains a fragment identifier");
      }
      super(address, options);
    }
  }
  return { ...actual, default: ThrowingWebSocket, WebSocket: ThrowingWebSocket };
});

const SECRET = "tunnel-test-secret-of-at-least-32-bytes";
const ECHO = "fal-ai/echo/realtime";
const issuer = createTokenIssuer({ secret: SECRET, singleUse: false });

let mock: MockFal;
beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());

interface Harness {
  server: Server;
  tunnel: NodeTunnel;
  port: number;
  url(query?: string, subject?: string): Promise<string>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function start(options: Partial<NodeTunnelOptions> = {}): Promise<Harness> {
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const tunnel = attachTunnel(server, {
    credentials: mock.key,
    upstream: mock.url,
    tokens: { secret: SECRET },
    logger: { warn: () => {}, error: () => {} },
    env: {},
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  cleanups.push(async () => {
    await tunnel.close();
    server.closeAllConnections();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    server,
    tunnel,
    port,
    url: async (query = "", subject = "user-1") => {
      const params = new URLSearchParams(query);
      params.set("fal_jwt_token", (await issuer.issue({ subject, apps: [ECHO] })).token);
      return `ws://127.0.0.1:${port}/api/fal/proxy/${ECHO}?${params}`;
    },
  };
}

/** A real `ws` client that records text frames and its close. */
function client(url: string) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const frames: string[] = [];
  ws.on("message", (data: Buffer) => frames.push(data.toString()));
  ws.on("error", () => {});
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  opened.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  return { ws, frames, opened, closed };
}

/** Sends raw bytes and resolves with everything the server answered until it closed (or `timeout`). */
function raw(port: number, text: string, timeout = 5_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${answer}<timed out>`);
    }, timeout);
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.write(text);
  });
}

function upgradeRequest(method: string, target: string, headers: Record<string, string> = {}): string {
  const lines = [
    `${method} ${target} HTTP/1.1`,
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join("\r\n")}\r\n\r\n`;
}

function body(answer: string): unknown {
  return JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
}

/** A plain `ws` server standing in for fal: echoes, or answers "big" with a frame of `bigSize` bytes. */
async function tinyFal(bigSize: number) {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on("connection", (ws) => {
    ws.on("error", () => {});
    ws.on("message", (data: Buffer, binary: boolean) => {
      if (data.toString() === "big") ws.send(Buffer.alloc(bigSize), { binary: true });
      else ws.send(data, { binary });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("upgrade requests a client controls never crash the process", () => {
  // TRACE is what the Fetch API cannot represent (TRACK and CONNECT never reach the upgrade event).
  test.each(["TRACE", "POST", "PUT"])("%s with Upgrade: websocket gets a 405 JSON error", async (method) => {
    const h = await start();
    const path = new URL(await h.url()).pathname;
    const answer = await raw(h.port, upgradeRequest(method, path, { Host: `127.0.0.1:${h.port}` }));
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(body(answer)).toMatchObject({ error: { code: "method_not_allowed" } });
    // Still serving.
    const c = client(await h.url());
    await c.opened;
    c.ws.close();
    await c.closed;
  });

  test("a Host header cannot move the request below the mount", async () => {
    const h = await start();
    const search = new URL(await h.url()).search;
    const answer = await raw(
      h.port,
      upgradeRequest("GET", `/elsewhere${search}`, { Host: `127.0.0.1/api/fal/proxy/${ECHO}?` }),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
  });
});

describe("request targets", () => {
  test("a cross-origin `//evil.example/...` target is not an upgrade to the tunnel", async () => {
    const h = await start();
    const before = mock.requests.length;
    const url = new URL(await h.url());
    for (const target of [`//evil.example${url.pathname}`, `http://evil.example${url.pathname}`]) {
      const answer = await raw(
        h.port,
        upgradeRequest("GET", `${target}${url.search}`, {
          Host: `127.0.0.1:${h.port}`,
          Origin: "https://evil.example",
        }),
      );
      expect(answer).toMatch(/^HTTP\/1\.1 404 /);
    }
    expect(mock.requests.length).toBe(before);
  });
});

describe("upstream socket that cannot be created", () => {
  test("INTERNAL_ERROR frame and 1011, and the per-principal slot is given back", async () => {
    const h = await start({
      tunnel: { maxPerPrincipal: 1 },
      upstream: (target) =>
        target.searchParams.has("fail")
          ? `http://throws.invalid${target.pathname}${target.search}`
          : `${mock.url}${target.pathname}${target.search}`,
    });
    for (let i = 0; i < 2; i++) {
      const c = client(await h.url("fail=1"));
      await c.opened;
      expect(await c.closed).toEqual({ code: 1011, reason: "Proxy error" });
      expect(c.frames.map((f) => JSON.parse(f) as unknown)).toEqual([
        { type: "x-fal-error", error: "INTERNAL_ERROR", reason: expect.any(String) },
      ]);
    }
    const ok = client(await h.url());
    await ok.opened;
    ok.ws.send("slot was free");
    await expect.poll(() => ok.frames).toEqual(["slot was free"]);
    ok.ws.close();
    await ok.closed;
    await expect.poll(() => h.tunnel.size).toBe(0);
  });
});

describe("server.close()", () => {
  test("closes open tunnels with 1001 so the server's close callback fires", async () => {
    const h = await start();
    const c = client(await h.url());
    await c.opened;
    await expect.poll(() => h.tunnel.snapshot()[0]?.state).toBe("open");
    const serverClosed = new Promise<void>((resolve) => h.server.close(() => resolve()));
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("timed out"), 5_000).unref());
    const closed = Promise.all([c.closed, serverClosed]).then(([close]) => close.code);
    expect(await Promise.race([closed, timeout])).toBe(1001);
    await expect.poll(() => h.tunnel.size).toBe(0);
  });
});

describe("maxPayload toward the browser", () => {
  test("a message from fal over maxPayload closes the browser with 1009", async () => {
    const fal = await tinyFal(2048);
    const h = await start({
      upstream: (target) => `${fal}${target.pathname}${target.search}`,
      tunnel: { maxPayload: 1024 },
    });
    const c = client(await h.url());
    await c.opened;
    c.ws.send("hello");
    await expect.poll(() => c.frames).toEqual(["hello"]);
    c.ws.send("big");
    expect((await c.closed).code).toBe(1009);
    expect(c.frames).toEqual(["hello"]);
    await expect.poll(() => h.tunnel.size, { timeout: 10_000 }).toBe(0);
  });
});
