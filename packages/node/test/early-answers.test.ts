import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type RunningServer, startServer } from "../src/index.js";
import { LINGER } from "../src/linger.js";
import { send } from "./helpers.js";

/*
 * Issue 13, findings 6 and 8, through the real standalone server with the fal mock behind it: `fal_webhook`
 * spellings another parser may read are refused before anything reaches fal, and an early 413 always reaches a
 * client that is still sending (the close after it lingers, bounded, instead of resetting the connection).
 */

const MiB = 1024 * 1024;
const CAP = 1 * MiB;
const silent: Logger = { warn: () => undefined, error: () => undefined };

let mock: MockFal;
let server: RunningServer;
let proxyUrl: string;
let port: number;

beforeAll(async () => {
  mock = await startMockFal({ port: 0, runMs: 0, webhooks: { enabled: false } });
  server = await startServer({
    port: 0,
    upstream: mock.url,
    credentials: mock.key,
    allowUnauthenticated: true,
    maxBodySize: CAP,
    webhookOrigins: ["https://hooks.example.com"],
    logger: silent,
  });
  proxyUrl = `${server.url}/api/fal/proxy`;
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server?.close();
  await mock?.close();
});

describe("fal_webhook spellings (finding 6)", () => {
  const submit = "https://queue.fal.run/fal-ai/flux/dev";
  const good = encodeURIComponent("https://hooks.example.com/fal");
  const evil = encodeURIComponent("https://evil.example/steal");
  const call = (query: string) =>
    send(proxyUrl, {
      method: "POST",
      headers: { "x-fal-target-url": `${submit}?${query}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "a cat" }),
    });

  it.each([
    `a=1;fal_webhook=${evil}`,
    `fal_webhook=${good};fal_webhook=${evil}`,
    `fal_webhook[]=${evil}`,
    `fal_webhook%00=${evil}`,
    `fal%5Fwebhook=${evil}`,
    `FAL_WEBHOOK=${good}`,
  ])("?%s is refused with webhook_not_allowed and never reaches fal", async (query) => {
    const before = mock.requests.length;
    const res = await call(query);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).error.code).toBe("webhook_not_allowed");
    expect(mock.requests.length).toBe(before);
  });

  it("the canonical fal_webhook= to an allowed origin is still forwarded as written", async () => {
    const res = await call(`fal_webhook=${good}`);
    expect(res.status).toBe(200);
    const seen = await mock.waitForRequest((r) => r.search === `?fal_webhook=${good}`);
    expect(seen.path).toBe("/fal-ai/flux/dev");
  });
});

/** What a raw client saw of one upload. */
interface Upload {
  /** Everything read from the socket. */
  received: string;
  /** Bytes written before the socket failed or ended. */
  sent: number;
  /** The socket error (EPIPE, ECONNRESET), if any, and how many bytes had been written when it came. */
  error: { code: string; sent: number } | null;
  /** ms from the first byte of the answer to the socket's close. */
  closedAfter: number | null;
}

/**
 * Sends a POST of `total` bytes (`Infinity`: a declared terabyte, until the server cuts it) in `chunk`-sized writes, one per `pause` ms
 * (or per drain), whatever the server answers in between, reading the socket all along: what a client that
 * uploads while it listens (fetch, curl, browsers) sees.
 */
function upload(options: {
  total: number;
  chunked?: boolean;
  chunk?: number;
  pause?: number;
  target?: string;
}): Promise<Upload> {
  const {
    total,
    chunked = false,
    chunk = 64 * 1024,
    pause = 1,
    target = "https://fal.run/fal-ai/flux/dev",
  } = options;
  return new Promise((resolve) => {
    // allowHalfOpen: the server's FIN after its answer must not stop this client from sending the rest.
    const socket: Socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const result: Upload = { received: "", sent: 0, error: null, closedAfter: null };
    let answeredAt = 0;
    socket.on("data", (data: Buffer) => {
      if (answeredAt === 0) answeredAt = performance.now();
      result.received += data.toString("latin1");
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      result.error = { code: error.code ?? error.message, sent: result.sent };
    });
    socket.on("close", () => {
      if (answeredAt !== 0) result.closedAfter = performance.now() - answeredAt;
      resolve(result);
    });
    const head =
      "POST /api/fal/proxy HTTP/1.1\r\nhost: 127.0.0.1\r\n" +
      `x-fal-target-url: ${target}\r\ncontent-type: application/octet-stream\r\n` +
      (chunked
        ? "transfer-encoding: chunked\r\n\r\n"
        : `content-length: ${Number.isFinite(total) ? total : 2 ** 40}\r\n\r\n`);
    socket.write(head);
    const piece = Buffer.alloc(chunk, 120);
    const framed = chunked
      ? Buffer.concat([Buffer.from(`${chunk.toString(16)}\r\n`), piece, Buffer.from("\r\n")])
      : piece;
    const pump = () => {
      if (socket.destroyed || result.error) return;
      if (result.sent >= total) {
        if (chunked) socket.end("0\r\n\r\n");
        else socket.end();
        return;
      }
      const flushed = socket.write(framed);
      result.sent += chunk;
      if (flushed) setTimeout(pump, pause);
      else socket.once("drain", pump);
    };
    pump();
  });
}

/** The status line and the parsed JSON body of a complete HTTP/1.1 answer with a content-length. */
function answer(received: string): { status: string; code: unknown; complete: boolean } {
  const split = received.indexOf("\r\n\r\n");
  const head = split === -1 ? received : received.slice(0, split);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
  const body = split === -1 ? "" : received.slice(split + 4, split + 4 + length);
  let code: unknown;
  try {
    code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: head.split("\r\n", 1)[0] ?? "", code, complete: body.length === length };
}

describe("an early 413 reaches a client that is still sending (finding 8)", () => {
  it("content-length over the cap: 20 uploads of 8 MiB, each reads the whole 413, and no write fails", async () => {
    const before = mock.requests.length;
    const total = 8 * MiB;
    for (let i = 0; i < 20; i++) {
      const result = await upload({ total });
      expect({ i, ...answer(result.received) }).toEqual({
        i,
        status: "HTTP/1.1 413 Payload Too Large",
        code: "payload_too_large",
        complete: true,
      });
      // The server kept reading while the rest (7 MiB, within the drain bound) went out: no reset, no EPIPE.
      expect({ i, error: result.error, sent: result.sent }).toEqual({ i, error: null, sent: total });
      expect(result.received).toMatch(/\r\nconnection: close\r\n/i);
    }
    // Refused on its declared length: nothing reached fal.
    expect(mock.requests.length).toBe(before);
  }, 60_000);

  it("a chunked upload passing the cap midway: the 413 is read and the rest is discarded, not forwarded", async () => {
    for (let i = 0; i < 5; i++) {
      const result = await upload({ total: 4 * MiB, chunked: true });
      expect({ i, ...answer(result.received) }).toMatchObject({
        i,
        status: "HTTP/1.1 413 Payload Too Large",
        code: "payload_too_large",
        complete: true,
      });
      expect({ i, error: result.error, sent: result.sent }).toEqual({ i, error: null, sent: 4 * MiB });
    }
    // fal got at most the cap of each body (plus what was in flight), never the rest.
    for (const seen of mock.requests.filter((r) => r.path === "/fal-ai/flux/dev")) {
      expect(seen.bodyLength).toBeLessThan(CAP + 512 * 1024);
    }
  }, 60_000);

  it("a fal token request whose streamed body passes its 16 KiB limit: the 413 is read, the body discarded", async () => {
    const before = mock.requests.length;
    for (let i = 0; i < 5; i++) {
      const result = await upload({ total: 2 * MiB, chunked: true, target: "https://rest.fal.ai/tokens/" });
      expect({ i, ...answer(result.received) }).toEqual({
        i,
        status: "HTTP/1.1 413 Payload Too Large",
        code: "payload_too_large",
        complete: true,
      });
      expect({ i, error: result.error, sent: result.sent }).toEqual({ i, error: null, sent: 2 * MiB });
    }
    expect(mock.requests.length).toBe(before);
  }, 30_000);

  it("bounded: a client that never stops sending is cut off after the drain time", async () => {
    // ~3 MiB/s: the time bound comes before the byte bound.
    const result = await upload({ total: Number.POSITIVE_INFINITY, chunk: 16 * 1024, pause: 5 });
    expect(answer(result.received).code).toBe("payload_too_large");
    expect(result.error).not.toBeNull();
    expect(result.closedAfter).toBeGreaterThanOrEqual(LINGER.timeout * 0.9);
    expect(result.closedAfter).toBeLessThan(LINGER.timeout + 3_000);
  }, 30_000);

  it("bounded: a client that never stops sending, fast, is cut off after the drain bytes", async () => {
    const result = await upload({ total: Number.POSITIVE_INFINITY, chunk: 256 * 1024, pause: 0 });
    expect(answer(result.received).code).toBe("payload_too_large");
    expect(result.error).not.toBeNull();
    // The cap, the drain bound and what the two sockets' buffers hold; far below what was offered in the time.
    expect(result.error!.sent).toBeLessThan(CAP + LINGER.maxBytes + 64 * MiB);
    expect(result.closedAfter).toBeLessThan(LINGER.timeout);
  }, 30_000);
});

/**
 * Sends an over-the-cap POST (content-length or chunked, the body sent in full) and right behind it, on the same
 * connection, a small valid proxied request to `second`: in the same write, or once the 413 has been read.
 * Resolves with everything read once the client, 200 ms after the server's FIN, closes its side too.
 */
function pipelined(options: {
  chunked: boolean;
  together: boolean;
  second: string;
  upgrade: boolean;
}): Promise<Upload> {
  const { chunked, together, second, upgrade } = options;
  const total = 2 * MiB;
  const body = Buffer.alloc(total, 120);
  const first = Buffer.concat([
    Buffer.from(
      "POST /api/fal/proxy HTTP/1.1\r\nhost: 127.0.0.1\r\n" +
        "x-fal-target-url: https://fal.run/fal-ai/flux/dev\r\ncontent-type: application/octet-stream\r\n" +
        (chunked ? "transfer-encoding: chunked\r\n\r\n" : `content-length: ${total}\r\n\r\n`),
    ),
    chunked ? Buffer.from(`${total.toString(16)}\r\n`) : Buffer.alloc(0),
    body,
    chunked ? Buffer.from("\r\n0\r\n\r\n") : Buffer.alloc(0),
  ]);
  const next = Buffer.from(
    upgrade
      ? `GET /api/fal/proxy/${new URL(second).pathname.slice(1)}/realtime HTTP/1.1\r\nhost: 127.0.0.1\r\n` +
          "connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n" +
          "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
      : "POST /api/fal/proxy HTTP/1.1\r\nhost: 127.0.0.1\r\n" +
          `x-fal-target-url: ${second}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`,
  );
  return new Promise((resolve) => {
    // The client keeps its side open (as a pipelining client does): only the server closes this connection.
    const socket: Socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const result: Upload = { received: "", sent: 0, error: null, closedAfter: null };
    let answeredAt = 0;
    socket.on("data", (data: Buffer) => {
      if (answeredAt === 0) {
        answeredAt = performance.now();
        if (!together) socket.write(next);
      }
      result.received += data.toString("latin1");
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      result.error = { code: error.code ?? error.message, sent: result.sent };
    });
    // The server's FIN follows its answer; a handled second request would reach fal within this time.
    socket.on("end", () => setTimeout(() => socket.end(), 200));
    socket.on("close", () => {
      if (answeredAt !== 0) result.closedAfter = performance.now() - answeredAt;
      resolve(result);
    });
    socket.write(together ? Buffer.concat([first, next]) : first);
    result.sent = total;
  });
}

describe("a request pipelined behind an early 413 is never handled (its answer could never be written)", () => {
  it.each([
    { chunked: false, together: true, upgrade: false },
    { chunked: false, together: false, upgrade: false },
    { chunked: true, together: true, upgrade: false },
    { chunked: true, together: false, upgrade: false },
    { chunked: false, together: true, upgrade: true },
  ])(
    "chunked: $chunked, same write: $together, a WebSocket upgrade: $upgrade",
    async (options) => {
      const { chunked, together } = options;
      const second = `https://fal.run/fal-ai/pipelined/${chunked ? "chunked" : "length"}-${together}`;
      // What Node hands to the server: the first request of each connection only, and never an upgrade.
      const handed: string[] = [];
      const onRequest = (req: IncomingMessage) => handed.push(`request ${req.headers["x-fal-target-url"]}`);
      const onUpgrade = (req: IncomingMessage, socket: Duplex) => {
        handed.push(`upgrade ${req.url}`);
        socket.destroy();
      };
      server.server.on("request", onRequest).on("upgrade", onUpgrade);
      onTestFinished(() => void server.server.off("request", onRequest).off("upgrade", onUpgrade));
      for (let i = 0; i < 5; i++) {
        const result = await pipelined({ ...options, second });
        expect({ i, ...answer(result.received) }).toEqual({
          i,
          status: "HTTP/1.1 413 Payload Too Large",
          code: "payload_too_large",
          complete: true,
        });
        // One answer, the 413: nothing was written for the second request.
        expect(result.received.split("HTTP/1.1 ").length - 1).toBe(1);
      }
      expect(handed).toEqual(Array(5).fill("request https://fal.run/fal-ai/flux/dev"));
      expect(mock.requests.filter((r) => r.path.startsWith("/fal-ai/pipelined/"))).toEqual([]);
    },
    60_000,
  );
});
