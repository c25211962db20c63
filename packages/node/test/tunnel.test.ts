import { createHmac, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import type { FalgateOptions as NodeTunnelOptions } from "@falgate/core";
import { createTokenIssuer, type Logger, type RelayEndInfo, type TunnelInfo } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { attachTunnel, type NodeTunnel } from "../src/tunnel.js";

const SECRET = "tunnel-test-secret-of-at-least-32-bytes";
const ECHO = "fal-ai/echo/realtime";
const APP = "fal-ai/fast-lcm-diffusion/realtime";

let mock: MockFal;
beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());
afterEach(() => {
  mock.clearFaults();
});

type Ended = TunnelInfo & RelayEndInfo;

interface Harness {
  server: Server;
  tunnel: NodeTunnel;
  port: number;
  ended: Ended[];
  /** Resolves with the next `count` tunnel ends (counting from when it was called). */
  nextEnds(count?: number): Promise<Ended[]>;
  token(apps?: string[], subject?: string, ttl?: number): Promise<string>;
  url(app: string, token: string | null, query?: string): string;
  close(): Promise<void>;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

function silentLogger(): Logger {
  return { warn: () => {}, error: () => {} };
}

async function start(options: Partial<NodeTunnelOptions> = {}): Promise<Harness> {
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const ended: Ended[] = [];
  const waiters: Array<{ count: number; resolve: (e: Ended[]) => void; from: number }> = [];
  const tunnel = attachTunnel(server, {
    credentials: mock.key,
    upstream: mock.url,
    tokens: { secret: SECRET },
    logger: silentLogger(),
    env: {},
    ...options,
    tunnel: {
      ...options.tunnel,
      onEnd: (info) => {
        ended.push(info);
        for (const w of [...waiters]) {
          if (ended.length - w.from >= w.count) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(ended.slice(w.from, w.from + w.count));
          }
        }
      },
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = createTokenIssuer({ secret: SECRET, singleUse: false });
  const harness: Harness = {
    server,
    tunnel,
    port,
    ended,
    nextEnds: (count = 1) => new Promise((resolve) => waiters.push({ count, resolve, from: ended.length })),
    token: async (apps = [ECHO], subject = "user-1", ttl) =>
      (await issuer.issue({ subject, apps, ...(ttl ? { ttl } : {}) })).token,
    url: (app, token, query = "") => {
      const params = new URLSearchParams(query);
      if (token !== null) params.set("fal_jwt_token", token);
      return `ws://127.0.0.1:${port}/api/fal/proxy/${app}?${params}`;
    },
    close: async () => {
      await tunnel.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  harnesses.push(harness);
  return harness;
}

interface Frame {
  data: Buffer;
  binary: boolean;
}

/** A real `ws` client that records frames and its close. */
function client(url: string, options: { origin?: string } = {}) {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    ...(options.origin ? { origin: options.origin } : {}),
  });
  const frames: Frame[] = [];
  const frameWaiters: Array<{ count: number; resolve: () => void }> = [];
  ws.on("message", (data: Buffer, binary: boolean) => {
    frames.push({ data, binary });
    for (const w of [...frameWaiters]) {
      if (frames.length >= w.count) {
        frameWaiters.splice(frameWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  opened.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  const refused = new Promise<{ status: number; body: string }>((resolve) =>
    ws.once("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    }),
  );
  ws.on("error", () => {});
  return {
    ws,
    frames,
    opened,
    closed,
    refused,
    /** Resolves once `count` frames have arrived in total. */
    received: (count: number) =>
      frames.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => frameWaiters.push({ count, resolve })),
    rawSocket: () => (ws as unknown as { _socket: Socket })._socket,
  };
}

function sendAll(ws: WebSocket, frames: Frame[]): void {
  for (const f of frames) ws.send(f.data, { binary: f.binary });
}

function upstreamRecords(path: string) {
  return mock.requests.filter((r) => r.websocket && r.path === path);
}

describe("relay", () => {
  test("binary and text frames arrive byte-identical both ways, types kept", async () => {
    const h = await start();
    const c = client(h.url(ECHO, await h.token(), "max_buffering=5"));
    await c.opened;
    const sent: Frame[] = [
      { data: randomBytes(1), binary: true },
      { data: Buffer.from([0xff, 0xfe, 0x00, 0xc3]), binary: true }, // invalid UTF-8 must not be "fixed"
      { data: Buffer.from("héllo ☃ 🎉", "utf8"), binary: false },
      { data: Buffer.alloc(0), binary: true },
      { data: Buffer.from("", "utf8"), binary: false },
      { data: randomBytes(3 * 1024 * 1024), binary: true },
      { data: Buffer.from(JSON.stringify({ prompt: "x".repeat(70_000) })), binary: false },
    ];
    sendAll(c.ws, sent);
    await c.received(sent.length);
    expect(c.frames.map((f) => f.binary)).toEqual(sent.map((f) => f.binary));
    c.frames.forEach((f, i) => {
      expect(f.data.equals(sent[i]!.data)).toBe(true);
    });

    const [record] = upstreamRecords(`/${ECHO}`).slice(-1);
    const inbound = record!.frames!.filter((f) => f.direction === "in");
    expect(inbound.map((f) => f.binary)).toEqual(sent.map((f) => f.binary));
    inbound.forEach((f, i) => {
      expect(f.data.equals(sent[i]!.data)).toBe(true);
    });
    c.ws.close(1000, "done");
    expect(await c.closed).toEqual({ code: 1000, reason: "done" });
  });

  test("5,000 numbered frames keep their order under load", async () => {
    const h = await start();
    const c = client(h.url(ECHO, await h.token()));
    const frames: Frame[] = Array.from({ length: 5000 }, (_, i) =>
      i % 3 === 0
        ? { data: Buffer.from(`text-${i}`), binary: false }
        : { data: Buffer.from(Uint32Array.of(i).buffer), binary: true },
    );
    await c.opened;
    await expect.poll(() => h.tunnel.snapshot()[0]?.state).toBe("open");
    sendAll(c.ws, frames);
    await c.received(frames.length);
    const decoded = c.frames.map((f) =>
      f.binary ? f.data.readUInt32LE(0) : Number(f.data.toString().slice(5)),
    );
    expect(decoded).toEqual(frames.map((_, i) => i));
    c.ws.close();
    await c.closed;
  });

  test("messages sent while fal is still connecting are queued, then flushed in order", async () => {
    const h = await start();
    mock.fault({ kind: "delay", delayMs: 300, host: "fal.run", path: /echo/, times: 1 });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    expect(h.tunnel.snapshot()[0]?.state).toBe("connecting");
    const frames = Array.from({ length: 20 }, (_, i) => ({ data: Buffer.from(`m${i}`), binary: false }));
    sendAll(c.ws, frames);
    await c.received(20);
    expect(c.frames.map((f) => f.data.toString())).toEqual(frames.map((f) => f.data.toString()));
    c.ws.close();
    await c.closed;
  });

  test("the queue is bounded: too many messages before fal answers closes with 1008", async () => {
    const h = await start({ tunnel: { maxQueuedMessages: 3 } });
    mock.fault({ kind: "delay", delayMs: 2_000, host: "fal.run", path: /echo/, times: 1 });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    const end = h.nextEnds();
    sendAll(
      c.ws,
      Array.from({ length: 4 }, () => ({ data: Buffer.from("x"), binary: false })),
    );
    expect((await c.closed).code).toBe(1008);
    expect((await end)[0]).toMatchObject({ reason: "queue-overflow" });
  });
});

describe("upstream failures", () => {
  test("fal refusing the upgrade (401) closes the client with 1014 and no detail from fal", async () => {
    const h = await start();
    mock.fault({
      kind: "status",
      status: 401,
      body: { detail: `secret ${mock.key}` },
      host: "fal.run",
      path: /echo/,
    });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    const closed = await c.closed;
    expect(closed).toEqual({ code: 1014, reason: "fal refused the connection (401)" });
    expect(c.frames).toEqual([]);
    await expect.poll(() => h.tunnel.size).toBe(0);
  });

  test("fal's own Unauthorized frame and close are relayed as they are", async () => {
    const h = await start({ credentials: "wrong:key" });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    const closed = await c.closed;
    expect(c.frames.map((f) => JSON.parse(f.data.toString()))).toEqual([
      { status: "error", error: "Unauthorized" },
    ]);
    expect(closed).toEqual({ code: 1008, reason: "Unauthorized" });
  });

  test("fal dropping the connection mid-stream closes the client with 1011", async () => {
    const h = await start();
    mock.fault({ kind: "reset-during-body", afterBytes: 10, host: "fal.run", path: /echo/ });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    c.ws.send(Buffer.from("12345678"), { binary: true });
    await c.received(1);
    c.ws.send(Buffer.from("12345678"), { binary: true });
    expect((await c.closed).code).toBe(1011);
    expect(c.frames).toHaveLength(1);
  });

  test("fal's close code and reason reach the client", async () => {
    const h = await start();
    const c = client(h.url(APP, await h.token([APP])));
    await c.opened;
    c.ws.send(JSON.stringify({ mock_close: { code: 4001, reason: "see you" } }));
    expect(await c.closed).toEqual({ code: 4001, reason: "see you" });
  });

  test("an x-fal-error frame and fal's 1011 close pass through", async () => {
    const h = await start();
    const c = client(h.url(APP, await h.token([APP])));
    await c.opened;
    c.ws.send(JSON.stringify({ mock_error: "INTERNAL_ERROR", reason: "boom" }));
    const closed = await c.closed;
    expect(JSON.parse(c.frames[0]!.data.toString())).toEqual({
      type: "x-fal-error",
      error: "INTERNAL_ERROR",
      reason: "boom",
    });
    expect(closed.code).toBe(1011);
  });

  test("an unreachable fal closes the client with 1014", async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const h = await start({ upstream: deadUrl });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    expect(await c.closed).toEqual({ code: 1014, reason: "fal is unreachable" });
  });
});

describe("dead peers and cleanup", () => {
  test("a client that vanishes without a close frame: fal's side is closed (1001)", async () => {
    const h = await start();
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    c.ws.send("ping-through");
    await c.received(1);
    const end = h.nextEnds();
    c.rawSocket().destroy();
    expect((await end)[0]).toMatchObject({ reason: "client-closed", code: 1006 });
    await expect.poll(() => upstreamRecords(`/${ECHO}`).at(-1)?.closeCode, { timeout: 10_000 }).toBe(1001);
    await expect.poll(() => h.tunnel.size, { timeout: 10_000 }).toBe(0);
  });

  test("a silent client (TCP up, no pongs) is terminated within the keep-alive window", async () => {
    const h = await start({ tunnel: { pingInterval: 150 } });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    c.ws.send("hello");
    await c.received(1);
    const end = h.nextEnds();
    // Stop reading: the client never sees the pings, as if its network went away.
    c.rawSocket().pause();
    const startedAt = Date.now();
    expect((await end)[0]).toMatchObject({ reason: "client-closed", code: 1006 });
    // Two ping intervals at most (generous margin for a loaded machine; this is a bound, not a benchmark).
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    await expect.poll(() => upstreamRecords(`/${ECHO}`).at(-1)?.closeCode, { timeout: 10_000 }).toBe(1001);
    c.ws.terminate();
  });

  test("idle tunnels are closed with 1000", async () => {
    const h = await start({ tunnel: { idleTimeout: 200 } });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    expect(await c.closed).toEqual({ code: 1000, reason: "Idle timeout" });
  });

  test("sessions end after maxSessionDuration even when busy", async () => {
    const h = await start({ tunnel: { maxSessionDuration: 300 } });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    const busy = setInterval(() => c.ws.readyState === WebSocket.OPEN && c.ws.send("tick"), 20);
    try {
      expect(await c.closed).toEqual({ code: 1000, reason: "Session time limit" });
    } finally {
      clearInterval(busy);
    }
  });

  test("a frame over maxPayload closes the tunnel with 1009 and fal's side too", async () => {
    const h = await start({ tunnel: { maxPayload: 1024 } });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    await expect.poll(() => h.tunnel.snapshot()[0]?.state).toBe("open");
    const end = h.nextEnds();
    c.ws.send(Buffer.alloc(2048), { binary: true });
    expect((await c.closed).code).toBe(1009);
    expect((await end)[0]).toMatchObject({ reason: "client-closed" });
    await expect.poll(() => h.tunnel.size, { timeout: 10_000 }).toBe(0);
  });

  test("1,000 concurrent tunnels open, relay and close cleanly", { timeout: 120_000 }, async () => {
    const h = await start({ tunnel: { maxPerPrincipal: 0 } });
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => h.token()));
    const clients = tokens.map((t) => client(h.url(ECHO, t)));
    await Promise.all(clients.map((c) => c.opened));
    for (const [i, c] of clients.entries()) c.ws.send(`hello-${i}`);
    await Promise.all(clients.map((c) => c.received(1)));
    clients.forEach((c, i) => {
      expect(c.frames[0]!.data.toString()).toBe(`hello-${i}`);
    });
    expect(h.tunnel.size).toBe(1000);
    const ends = h.nextEnds(1000);
    for (const c of clients) c.ws.close(1000);
    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes.every((c) => c.code === 1000)).toBe(true);
    expect((await ends).every((e) => e.reason === "client-closed")).toBe(true);
    await expect.poll(() => h.tunnel.size, { timeout: 30_000 }).toBe(0);
    await expect
      .poll(() => new Promise<number>((resolve) => h.server.getConnections((_e, n) => resolve(n))), {
        timeout: 30_000,
      })
      .toBe(0);
  });
});

describe("back-pressure", () => {
  test("a client that does not read makes the relay stop reading from fal; memory stays bounded", async () => {
    const highWaterMark = 256 * 1024;
    const frameSize = 128 * 1024;
    const h = await start({ tunnel: { highWaterMark } });
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    await expect.poll(() => h.tunnel.snapshot()[0]?.state).toBe("open");
    c.rawSocket().pause();
    const frames = Array.from({ length: 160 }, (_, i) => ({
      data: Buffer.alloc(frameSize, i),
      binary: true,
    }));
    sendAll(c.ws, frames);
    // 20 MiB echoed toward a client that reads nothing: kernel buffers fill, then the relay must pause fal.
    await expect.poll(() => h.tunnel.snapshot()[0]?.upstreamPaused, { timeout: 20_000 }).toBe(true);
    const paused = h.tunnel.snapshot()[0]!;
    expect(paused.clientBuffered).toBeLessThanOrEqual(highWaterMark + 4 * frameSize);
    const peak = { buffered: paused.clientBuffered };
    // The client reads again: everything arrives, in order, and the relay resumes fal.
    const sampler = setInterval(() => {
      const s = h.tunnel.snapshot()[0];
      if (s) peak.buffered = Math.max(peak.buffered, s.clientBuffered);
    }, 5);
    c.rawSocket().resume();
    await c.received(frames.length);
    clearInterval(sampler);
    expect(peak.buffered).toBeLessThanOrEqual(highWaterMark + 4 * frameSize);
    c.frames.forEach((f, i) => {
      expect(f.data.equals(frames[i]!.data)).toBe(true);
    });
    expect(h.tunnel.snapshot()[0]?.upstreamPaused).toBe(false);
    c.ws.close();
    await c.closed;
  });
});

describe("refusals", () => {
  const UNAUTHORIZED = { status: "error", error: "Unauthorized" };

  async function refusedInBand(h: Harness, url: string) {
    const c = client(url);
    await c.opened;
    const closed = await c.closed;
    expect(c.frames).toHaveLength(1);
    expect(c.frames[0]!.binary).toBe(false);
    return { frame: JSON.parse(c.frames[0]!.data.toString()) as Record<string, unknown>, closed, h };
  }

  test.each<[string, (h: Harness) => Promise<string>]>([
    ["no token", async (h) => h.url(ECHO, null)],
    ["a garbage token", async (h) => h.url(ECHO, "not-a-jwt")],
    [
      "a token signed with another secret",
      async (h) => {
        const other = createTokenIssuer({ secret: `${SECRET}-other` });
        return h.url(ECHO, (await other.issue({ subject: "u", apps: [ECHO] })).token);
      },
    ],
    [
      "an expired token",
      async (h) => {
        const t = Math.floor(Date.now() / 1000);
        const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
        const head = `${part({ alg: "HS256", kid: "default", typ: "falgate+jwt" })}.${part({
          iss: "falgate",
          aud: "falgate:realtime",
          sub: "u",
          apps: [ECHO],
          jti: "j",
          iat: t - 120,
          exp: t - 30,
        })}`;
        return h.url(ECHO, `${head}.${createHmac("sha256", SECRET).update(head).digest("base64url")}`);
      },
    ],
    ["a token for another app", async (h) => h.url(ECHO, await h.token([APP]))],
    ["a token for another path of the app", async (h) => h.url("fal-ai/echo/other", await h.token([ECHO]))],
  ])("%s: Unauthorized frame, close 1008, nothing sent to fal", async (_name, makeUrl) => {
    const h = await start();
    const before = mock.requests.length;
    const { frame, closed } = await refusedInBand(h, await makeUrl(h));
    expect(frame).toMatchObject(UNAUTHORIZED);
    expect(closed).toEqual({ code: 1008, reason: "Unauthorized" });
    expect(mock.requests.length).toBe(before);
  });

  test("an endpoint outside allowedEndpoints is refused even with a valid token", async () => {
    const h = await start({ allowedEndpoints: ["fal-ai/fast-lcm-diffusion"] });
    const { frame } = await refusedInBand(h, h.url(ECHO, await h.token([ECHO])));
    expect(frame).toMatchObject(UNAUTHORIZED);
    const ok = client(h.url(APP, await h.token([APP])));
    await ok.opened;
    ok.ws.send(JSON.stringify({ prompt: "a cat" }));
    await ok.received(1);
    expect(JSON.parse(ok.frames[0]!.data.toString())).toHaveProperty("images");
    ok.ws.close();
    await ok.closed;
  });

  test("a single-use token opens one tunnel only", async () => {
    const h = await start({ tokens: { secret: SECRET, singleUse: true } });
    const token = await h.token();
    const first = client(h.url(ECHO, token));
    await first.opened;
    const { frame } = await refusedInBand(h, h.url(ECHO, token));
    expect(frame).toMatchObject(UNAUTHORIZED);
    expect(String(frame.reason)).toMatch(/already used/);
    first.ws.close();
    await first.closed;
  });

  test("per-principal cap: the third tunnel gets RATE_LIMITED and 1013; a slot frees on close", async () => {
    const h = await start({ tunnel: { maxPerPrincipal: 2 } });
    const a = client(h.url(ECHO, await h.token()));
    const b = client(h.url(ECHO, await h.token()));
    await Promise.all([a.opened, b.opened]);
    const { frame, closed } = await refusedInBand(h, h.url(ECHO, await h.token()));
    expect(frame).toMatchObject({ type: "x-fal-error", error: "RATE_LIMITED" });
    expect(closed.code).toBe(1013);
    const other = client(h.url(ECHO, await h.token([ECHO], "user-2")));
    await other.opened;
    const end = h.nextEnds();
    a.ws.close();
    await end;
    const again = client(h.url(ECHO, await h.token()));
    await again.opened;
    again.ws.send("still works");
    await again.received(1);
    expect(again.frames[0]!.data.toString()).toBe("still works");
    for (const c of [b, other, again]) c.ws.close();
    await Promise.all([b.closed, other.closed, again.closed]);
  });

  test("a broken handshake with a valid token is refused before the token or a slot is taken", async () => {
    const h = await start({ tunnel: { maxPerPrincipal: 1 } });
    const path =
      new URL(h.url(ECHO, await h.token())).pathname + new URL(h.url(ECHO, await h.token())).search;
    const socket = connect(h.port, "127.0.0.1");
    const answer = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      socket.on("close", () => resolve(text));
    });
    // An upgrade without Sec-WebSocket-Key: the gate refuses it as ws would, before looking at the token.
    socket.end(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
    );
    expect(await answer).toMatch(/^HTTP\/1\.1 400[\s\S]*"invalid_handshake"/);
    const c = client(h.url(ECHO, await h.token()));
    await c.opened;
    c.ws.send("slot was free");
    await c.received(1);
    expect(c.frames[0]!.data.toString()).toBe("slot was free");
    c.ws.close();
    await c.closed;
  });

  test("a foreign Origin is refused with 403 before the upgrade; same origin and allowedOrigins pass", async () => {
    const h = await start({ allowedOrigins: ["https://app.example.com"] });
    const before = mock.requests.length;
    const evil = client(h.url(ECHO, await h.token()), { origin: "https://evil.example" });
    const refused = await evil.refused;
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error.code).toBe("origin_not_allowed");
    expect(mock.requests.length).toBe(before);

    for (const origin of [`http://127.0.0.1:${h.port}`, "https://app.example.com"]) {
      const ok = client(h.url(ECHO, await h.token()), { origin });
      await ok.opened;
      ok.ws.close();
      await ok.closed;
    }
  });

  test("URLs that are not tunnels are answered 404 before the upgrade", async () => {
    const h = await start();
    for (const path of [
      "/elsewhere",
      "/api/fal/proxy/fal-ai",
      "/api/fal/proxy/fal-ai/a%2Fb/realtime",
      "/api/fal/proxy//fal-ai/echo/realtime",
    ]) {
      const c = client(`ws://127.0.0.1:${h.port}${path}`);
      expect((await c.refused).status).toBe(404);
    }
    const bad = client(h.url(ECHO, await h.token(), "max_buffering=99"));
    expect((await bad.refused).status).toBe(400);
  });

  test("without token keys the tunnel answers 404", async () => {
    const h = await start({ tokens: {} });
    const c = client(h.url(ECHO, "x"));
    expect((await c.refused).status).toBe(404);
  });
});

describe("credentials", () => {
  test("the key travels in a header only: never in fal's URL, never in a frame or close to the client", async () => {
    const h = await start();
    const token = await h.token();
    const c = client(h.url(ECHO, token, "max_buffering=5&custom=1"));
    await c.opened;
    c.ws.send("x");
    await c.received(1);
    c.ws.close();
    await c.closed;
    const record = upstreamRecords(`/${ECHO}`).at(-1)!;
    expect(record.headers.authorization).toBe(`Key ${mock.key}`);
    expect(record.headers["x-falgate-upstream-host"]).toBe("fal.run");
    expect(record.search).toBe("?max_buffering=5&custom=1");
    expect(`${record.path}${record.search}`).not.toContain(mock.key);
    expect(record.search).not.toContain(token);
    expect(record.headers.origin).toBeUndefined();
  });

  test("no frame or close reason ever carries the key, even on failures", async () => {
    const h = await start();
    const seen: string[] = [];
    const scenarios: Array<() => Promise<void>> = [
      async () => {
        mock.fault({
          kind: "status",
          status: 403,
          body: { detail: mock.key },
          host: "fal.run",
          path: /echo/,
          times: 1,
        });
        const c = client(h.url(ECHO, await h.token()));
        const closed = await c.closed;
        seen.push(closed.reason, ...c.frames.map((f) => f.data.toString("latin1")));
      },
      async () => {
        const c = client(h.url(ECHO, "bogus"));
        const closed = await c.closed;
        seen.push(closed.reason, ...c.frames.map((f) => f.data.toString("latin1")));
      },
    ];
    for (const run of scenarios) await run();
    expect(seen.length).toBeGreaterThan(2);
    for (const text of seen) expect(text).not.toContain(mock.key);
  });
});
