import type { IncomingMessage, ServerResponse } from "node:http";
import { connect } from "node:net";
import zlib from "node:zlib";
import { DEFAULT_FORWARD_HEADERS, type Logger } from "@falgate/core";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, type ServerOptions, startServer } from "../src/index.js";
import { deferred, listen, rawRequest, readAll, readUntil, send } from "./helpers.js";

const KEY = "test-key-id:test-key-secret";
const silent: Logger = { warn: () => undefined, error: () => undefined };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Seen {
  method?: string;
  url?: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** A stand-in for fal on loopback that records what the proxy forwarded. */
async function fakeFal(route?: (req: IncomingMessage, res: ServerResponse) => unknown) {
  const seen: Seen[] = [];
  const server = await listen(async (req, res) => {
    if (route) return void route(req, res);
    const body = await readAll(req);
    seen.push({ method: req.method, url: req.url, headers: req.headers, body });
    res.writeHead(200, {
      "content-type": "application/json",
      "x-fal-request-id": "req-1",
      "set-cookie": "fal=1",
    });
    res.end(JSON.stringify({ ok: true, echo: body.toString("utf8") }));
  });
  cleanups.push(server.close);
  return { ...server, seen };
}

async function proxyServer(options: ServerOptions): Promise<RunningServer & { proxy: string }> {
  const running = await startServer({
    port: 0,
    credentials: KEY,
    allowUnauthenticated: true,
    logger: silent,
    ...options,
  });
  cleanups.push(running.close);
  return { ...running, proxy: `${running.url}${options.path ?? "/api/fal/proxy"}` };
}

const target = (path: string) => ({
  "x-fal-target-url": `https://fal.run${path}`,
  "content-type": "application/json",
});

describe("startServer", () => {
  it("proxies to the upstream with the key, without the browser's credentials", async () => {
    const fal = await fakeFal();
    const { proxy } = await proxyServer({ upstream: fal.url });
    const body = JSON.stringify({ prompt: "a cat", n: 1 });
    const res = await send(proxy, {
      method: "POST",
      headers: { ...target("/fal-ai/fast-sdxl?x=1"), authorization: "Bearer session", cookie: "sid=1" },
      body,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ ok: true, echo: body });
    expect(res.headers["x-fal-request-id"]).toBe("req-1");
    expect(res.headers["set-cookie"]).toBeUndefined();
    const [call] = fal.seen;
    expect(call?.method).toBe("POST");
    expect(call?.url).toBe("/fal-ai/fast-sdxl?x=1");
    expect(call?.headers.authorization).toBe(`Key ${KEY}`);
    expect(call?.headers.cookie).toBeUndefined();
    expect(call?.headers["x-falgate-upstream-host"]).toBe("fal.run");
    expect(call?.body.toString()).toBe(body);
    expect(res.text).not.toContain(KEY);
  });

  it("does not forward request headers the client's Connection names, even ones forwardHeaders lists", async () => {
    const fal = await fakeFal();
    const { proxy } = await proxyServer({
      upstream: fal.url,
      forwardHeaders: [...DEFAULT_FORWARD_HEADERS, "x-secret-hop", "x-kept"],
    });
    const res = await send(proxy, {
      method: "POST",
      headers: {
        ...target("/fal-ai/fast-sdxl"),
        connection: "close, x-secret-hop, x-fal-runner-hint",
        "x-secret-hop": "1",
        "x-fal-runner-hint": "named",
        "x-kept": "2",
        "x-fal-request-source": "kept",
      },
      body: "{}",
    });
    expect(res.status).toBe(200);
    const [call] = fal.seen;
    expect(call?.headers["x-secret-hop"]).toBeUndefined();
    expect(call?.headers["x-fal-runner-hint"]).toBeUndefined();
    expect(call?.headers["x-kept"]).toBe("2");
    expect(call?.headers["x-fal-request-source"]).toBe("kept");
  });

  it("asks fal for the client's Accept-Encoding, unless the client's Connection names it (hop-by-hop)", async () => {
    const fal = await fakeFal();
    const { proxy } = await proxyServer({ upstream: fal.url });
    const call = async (headers: Record<string, string>) => {
      const res = await send(proxy, {
        method: "POST",
        headers: { ...target("/fal-ai/fast-sdxl"), ...headers },
        body: "{}",
      });
      expect(res.status).toBe(200);
      return fal.seen.at(-1)?.headers["accept-encoding"];
    };
    expect(await call({ "accept-encoding": "br" })).toBe("br");
    expect(await call({ "accept-encoding": "br", connection: "close, accept-encoding" })).not.toBe("br");
  });

  it("serves sub-paths of `path`, /healthz, and a JSON 404 elsewhere", async () => {
    const fal = await fakeFal();
    const { url } = await proxyServer({ upstream: fal.url, path: "/fal/" });
    expect((await send(`${url}/fal/anything`, { headers: target("/fal-ai/flux/dev") })).status).toBe(200);
    expect((await send(`${url}/fal`, { headers: target("/fal-ai/flux/dev") })).status).toBe(200);
    const health = await send(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toEqual({ status: "ok" });
    const missing = await send(`${url}/falx`, { headers: target("/fal-ai/flux/dev") });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text).error.code).toBe("not_found");
    expect(fal.seen).toHaveLength(2);
  });

  it("applies the core policy (refused target, endpoint allowlist)", async () => {
    const fal = await fakeFal();
    const { proxy } = await proxyServer({ upstream: fal.url, allowedEndpoints: ["fal-ai/flux/*"] });
    const evil = await send(proxy, { headers: { "x-fal-target-url": "https://fal.run.evil.com/x" } });
    expect(evil.status).toBe(403);
    const other = await send(proxy, { method: "POST", headers: target("/fal-ai/fast-sdxl"), body: "{}" });
    expect(JSON.parse(other.text).error.code).toBe("endpoint_not_allowed");
    expect(fal.seen).toHaveLength(0);
  });

  it("relays SSE event by event: the first event arrives before upstream finished", async () => {
    const next = deferred();
    const fal = await fakeFal(async (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('data: {"status":"IN_PROGRESS"}\n\n');
      await next.promise;
      res.end('data: {"status":"COMPLETED"}\n\n');
    });
    const { proxy } = await proxyServer({ upstream: fal.url });
    const { req, response } = rawRequest(proxy, {
      method: "POST",
      headers: target("/fal-ai/flux/dev/stream"),
    });
    req.end("{}");
    const res = await response;
    const seen = { text: "" };
    await readUntil(res, "IN_PROGRESS", seen);
    expect(seen.text).not.toContain("COMPLETED");
    next.resolve();
    await readAll(res).then((rest) => (seen.text += rest.toString()));
    expect(seen.text).toBe('data: {"status":"IN_PROGRESS"}\n\ndata: {"status":"COMPLETED"}\n\n');
  });

  it("streams the request body upstream before the client finished sending", async () => {
    const firstChunk = deferred<string>();
    const fal = await fakeFal(async (req, res) => {
      req.once("data", (chunk: Buffer) => firstChunk.resolve(chunk.toString()));
      const rest = await readAll(req);
      res.end(`got ${rest.length}`);
    });
    const { proxy } = await proxyServer({ upstream: fal.url });
    const { req, response } = rawRequest(proxy, {
      method: "POST",
      headers: { ...target("/fal-ai/flux/dev"), "content-type": "application/octet-stream" },
    });
    req.write("chunk-one;");
    expect(await firstChunk.promise).toBe("chunk-one;");
    req.end("chunk-two");
    expect((await readAll(await response)).toString()).toMatch(/^got /);
  });

  it("a client that disconnects cancels the upstream request", async () => {
    const arrived = deferred();
    const upstreamClosed = deferred<boolean>();
    const fal = await fakeFal((_req, res) => {
      res.on("close", () => upstreamClosed.resolve(res.writableFinished));
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(": keep-alive\n\n");
      arrived.resolve();
    });
    const { proxy } = await proxyServer({ upstream: fal.url });
    const { req, response } = rawRequest(proxy, {
      method: "POST",
      headers: target("/fal-ai/flux/dev/stream"),
    });
    req.end("{}");
    const res = await response;
    await arrived.promise;
    await readUntil(res, "keep-alive");
    res.destroy();
    expect(await upstreamClosed.promise).toBe(false);
  });

  it("answers 413 past maxBodySize and 502 when the upstream is down", async () => {
    const fal = await fakeFal();
    const { proxy } = await proxyServer({ upstream: fal.url, maxBodySize: 16 });
    const big = await send(proxy, {
      method: "POST",
      headers: target("/fal-ai/flux/dev"),
      body: "x".repeat(64),
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text).error.code).toBe("payload_too_large");
    await fal.close();
    const down = await send(proxy, { method: "POST", headers: target("/fal-ai/flux/dev"), body: "{}" });
    expect(down.status).toBe(502);
    expect(JSON.parse(down.text).error.code).toBe("upstream_unreachable");
  });

  it("answers 413 when a streamed body (no content-length) passes maxBodySize", async () => {
    const fal = await fakeFal((req, res) => {
      req.resume();
      req.on("end", () => res.end("{}"));
    });
    const { proxy } = await proxyServer({ upstream: fal.url, maxBodySize: 100 });
    const { req, response } = rawRequest(proxy, { method: "POST", headers: target("/fal-ai/flux/dev") });
    for (let i = 0; i < 4; i++) req.write("y".repeat(64));
    req.end();
    const res = await response;
    expect(res.statusCode).toBe(413);
    expect(JSON.parse((await readAll(res)).toString()).error.code).toBe("payload_too_large");
    await fal.close();
  });

  it("relays a compressed answer byte for byte when the client accepts it, and asks for none otherwise", async () => {
    const json = JSON.stringify({ images: [], pad: "y".repeat(4000) });
    const gz = zlib.gzipSync(json);
    const fal = await fakeFal((req, res) => {
      if (!String(req.headers["accept-encoding"] ?? "").includes("gzip")) return void res.end(json);
      res.writeHead(200, {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "content-length": gz.length,
      });
      res.end(gz);
    });
    const { proxy } = await proxyServer({ upstream: fal.url });
    const gzipped = await send(proxy, {
      headers: { ...target("/fal-ai/flux/dev"), "accept-encoding": "gzip" },
    });
    expect(gzipped.headers["content-encoding"]).toBe("gzip");
    expect(gzipped.headers["content-length"]).toBe(String(gz.length));
    expect(gzipped.body.equals(gz)).toBe(true);
    const plain = await send(proxy, { headers: target("/fal-ai/flux/dev") });
    expect(fal.seen.at(-1)?.headers["accept-encoding"]).toBeUndefined();
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.text).toBe(json);
  });

  describe("graceful shutdown", () => {
    it("stops accepting, lets in-flight requests finish, then resolves", async () => {
      const arrived = deferred();
      const release = deferred();
      const fal = await fakeFal(async (_req, res) => {
        arrived.resolve();
        await release.promise;
        res.end('{"done":true}');
      });
      const running = await proxyServer({ upstream: fal.url });
      const { req, response } = rawRequest(running.proxy, {
        method: "POST",
        headers: target("/fal-ai/flux/dev"),
      });
      req.end("{}");
      await arrived.promise;
      let closed = false;
      const closing = running.close().then(() => {
        closed = true;
      });
      // New connections are refused while the in-flight request is still running.
      const refused = await new Promise<string>((resolve) => {
        const socket = connect(Number(new URL(running.url).port), "127.0.0.1");
        socket.on("connect", () => {
          socket.destroy();
          resolve("connected");
        });
        socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
      });
      expect(refused).toBe("ECONNREFUSED");
      expect(closed).toBe(false);
      release.resolve();
      const res = await response;
      expect(res.headers.connection).toBe("close");
      expect((await readAll(res)).toString()).toBe('{"done":true}');
      await closing;
      expect(closed).toBe(true);
    });

    it("cuts off requests still running after shutdownTimeout", async () => {
      const arrived = deferred();
      const fal = await fakeFal((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(": open\n\n");
        arrived.resolve(); // and never ends
      });
      const running = await proxyServer({ upstream: fal.url, shutdownTimeout: 50 });
      const { req, response } = rawRequest(running.proxy, {
        method: "POST",
        headers: target("/fal-ai/x/stream"),
      });
      req.end("{}");
      const res = await response;
      await arrived.promise;
      await running.close();
      await expect(readAll(res)).rejects.toThrow(/aborted/);
    });
  });
});

describe("startServer realtime", () => {
  it("serves the tunnel on the same port: token route, then a byte-identical echo through wss", async () => {
    const { startMockFal } = await import("@falgate/mock-fal");
    const { WebSocket } = await import("ws");
    const mock = await startMockFal();
    cleanups.push(() => mock.close());
    const running = await proxyServer({
      upstream: mock.url,
      credentials: mock.key,
      tokens: { secret: "s".repeat(32) },
    });
    const tokenRes = await fetch(`${running.proxy}/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app: "fal-ai/echo" }),
    });
    expect(tokenRes.status).toBe(200);
    const token = (await tokenRes.json()) as string;
    const wsUrl = `${running.url.replace("http", "ws")}/api/fal/proxy/fal-ai/echo/realtime?fal_jwt_token=${token}`;
    const ws = new WebSocket(wsUrl);
    cleanups.push(() => ws.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const frame = Buffer.from([0x81, 0xa1, 0x61, 0x01, 0xff]);
    const echoed = new Promise<Buffer>((resolve) => ws.once("message", (data) => resolve(data as Buffer)));
    ws.send(frame);
    expect((await echoed).equals(frame)).toBe(true);
    const upgrade = mock.requests.find((r) => r.path.endsWith("/realtime"));
    expect(upgrade?.search ?? "").not.toContain("fal_jwt_token");
    expect(upgrade?.headers.authorization).toBe(`Key ${mock.key}`);
  });
});
