import type { IncomingMessage, ServerResponse } from "node:http";
import { createFalgate, FalgateError, type FalgateOptions, type ResponseInfo } from "@falgate/core";
import { startMockFal } from "@falgate/mock-fal";
import { afterEach, describe, expect, it } from "vitest";
import { createNodeHandler, type NodeContext } from "../src/index.js";
import { deferred, listen, rawRequest, readAll, readUntil, send } from "./helpers.js";

/*
 * The Node binding end to end: a real client, the binding on a real `http.Server`, and a real upstream on
 * loopback standing in for fal. What the shared conformance suite checks for every adapter (policy, methods,
 * header hygiene, binary bodies) is not repeated here; these are the Node-specific paths: bodies a parser already
 * read, the lazily built `Request` and the framework objects hooks get, the body cap on chunked uploads, early
 * answers, back-pressure, aborts and truncation.
 */

const KEY = "node-binding-key:secret-0123456789";
const TARGET = "https://fal.run/fal-ai/fast-sdxl";
const silent = { warn: () => {}, error: () => {} };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** What the upstream saw of one request. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Promise<Buffer>;
  /** Resolves when the proxy dropped the upstream request before the answer was complete. */
  aborted: Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse, seen: Seen) => unknown;

/** A stand-in for fal on loopback that records every request; `route` answers (default: echo the body as JSON). */
async function upstream(route?: Route) {
  const seen: Seen[] = [];
  const arrived: Array<(s: Seen) => void> = [];
  const server = await listen((req, res) => {
    const aborted = deferred();
    res.on("close", () => {
      if (!res.writableFinished) aborted.resolve();
    });
    const entry: Seen = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: route ? Promise.resolve(Buffer.alloc(0)) : readAll(req),
      aborted: aborted.promise,
    };
    seen.push(entry);
    for (const resolve of arrived.splice(0)) resolve(entry);
    if (route) return void route(req, res, entry);
    void entry.body.then((body) => {
      res.writeHead(200, { "content-type": "application/json", "x-fal-request-id": "rid-1" });
      res.end(JSON.stringify({ body: body.toString("utf8"), type: req.headers["content-type"] ?? null }));
    });
  });
  cleanups.push(server.close);
  const next = () => new Promise<Seen>((resolve) => arrived.push(resolve));
  return { ...server, seen, next };
}

/** The Node binding on its own server, forwarding to `fal`. `before` runs first (a stand-in for middleware). */
async function proxy(
  fal: { url: string },
  options: FalgateOptions<NodeContext> = {},
  before?: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void,
) {
  const handler = createNodeHandler(
    createFalgate<NodeContext>({
      credentials: KEY,
      upstream: fal.url,
      allowUnauthenticated: true,
      logger: silent,
      ...options,
    }),
  );
  const server = await listen(async (req, res) => {
    await before?.(req, res);
    await handler(req, res);
  });
  cleanups.push(server.close);
  return server;
}

const call = (headers: Record<string, string> = {}) => ({
  "x-fal-target-url": TARGET,
  "content-type": "application/json",
  ...headers,
});

describe("request bodies", () => {
  it("streams the body: fal sees the first chunk before the client finished sending", async () => {
    const firstChunk = deferred<string>();
    const fal = await upstream((req, res) => {
      req.once("data", (chunk: Buffer) => firstChunk.resolve(chunk.toString()));
      void readAll(req).then((all) => res.end(all));
    });
    const { url } = await proxy(fal);
    const { req, response } = rawRequest(url, {
      method: "POST",
      headers: call({ "content-type": "application/octet-stream" }),
    });
    req.write("first-");
    // The client has not ended its request: fal can only see this if the body streams.
    expect(await firstChunk.promise).toBe("first-");
    req.end("second");
    expect((await readAll(await response)).toString()).toBe("first-second");
  });

  describe("bodies a body parser already read", () => {
    // What express.json() / urlencoded() / text() / raw() leave behind: the stream consumed, req.body set.
    const parsedBy =
      (parse: (raw: Buffer, req: IncomingMessage) => unknown) => async (req: IncomingMessage) => {
        const raw = await readAll(req);
        Object.assign(req, { body: parse(raw, req), _body: true });
      };

    it("re-encodes a parsed JSON object with the original content-type and a fresh length", async () => {
      const fal = await upstream();
      const { url } = await proxy(
        fal,
        {},
        parsedBy((raw) => JSON.parse(raw.toString())),
      );
      const res = await send(url, {
        method: "POST",
        headers: call(),
        body: '{ "prompt" : "a cat",\n "n": 2 }',
      });
      expect(JSON.parse(res.text)).toEqual({ body: '{"prompt":"a cat","n":2}', type: "application/json" });
      expect(fal.seen[0]?.headers["content-length"]).toBe(
        String(Buffer.byteLength('{"prompt":"a cat","n":2}')),
      );
    });

    it("passes a raw Buffer and a text string through as they are, relabelling a decoded charset as utf-8", async () => {
      const fal = await upstream();
      const bytes = Buffer.from([0, 1, 2, 255, 254]);
      const raw = await proxy(
        fal,
        {},
        parsedBy((b) => b),
      );
      await send(raw.url, {
        method: "POST",
        headers: call({ "content-type": "application/octet-stream" }),
        body: bytes,
      });
      expect(await fal.seen[0]?.body).toEqual(bytes);
      const text = await proxy(
        fal,
        {},
        parsedBy((b) => b.toString("latin1")),
      );
      const res = await send(text.url, {
        method: "PUT",
        headers: call({ "content-type": "text/plain; charset=iso-8859-1" }),
        body: Buffer.from("h\xe9llo", "latin1"),
      });
      expect(JSON.parse(res.text)).toEqual({ body: "héllo", type: "text/plain; charset=utf-8" });
    });

    it("a body-less request stays body-less even when a parser left `{}` (empty queue-cancel PUT)", async () => {
      const fal = await upstream();
      const { url } = await proxy(
        fal,
        {},
        parsedBy(() => ({})),
      );
      await send(url, { method: "PUT", headers: call({ "content-length": "0" }), body: "" });
      expect(fal.seen[0]?.method).toBe("PUT");
      expect((await fal.seen[0]?.body)?.length).toBe(0);
      expect(fal.seen[0]?.headers["content-length"] ?? "0").toBe("0");
    });

    it("re-encodes a urlencoded form as a form", async () => {
      const fal = await upstream();
      const { url } = await proxy(
        fal,
        {},
        parsedBy((raw) => Object.fromEntries(new URLSearchParams(raw.toString()))),
      );
      const res = await send(url, {
        method: "POST",
        headers: call({ "content-type": "application/x-www-form-urlencoded" }),
        body: "a=1&b=two+words",
      });
      expect(JSON.parse(res.text).body).toBe("a=1&b=two+words");
    });

    it("streams the raw body when a parser set req.body but skipped the request (body-parser 1.x)", async () => {
      const fal = await upstream();
      const { url } = await proxy(fal, {}, (req) => {
        Object.assign(req, { body: {} }); // express.json() on a non-JSON request
      });
      const res = await send(url, {
        method: "POST",
        headers: call({ "content-type": "image/png" }),
        body: "PNGDATA",
      });
      expect(JSON.parse(res.text).body).toBe("PNGDATA");
    });
  });

  it("an upstream answering 401 during a slow chunked upload: the client gets the 401, the process lives", async () => {
    const mock = await startMockFal();
    cleanups.push(() => mock.close());
    mock.fault({ kind: "status", status: 401, method: "POST", delayMs: 20 });
    const { url } = await proxy({ url: mock.url }, { credentials: mock.key });
    // Each round races fal's early answer against the client's next chunk.
    for (let round = 0; round < 5; round++) {
      const { req, response } = rawRequest(url, {
        method: "POST",
        headers: call({ "transfer-encoding": "chunked", "content-type": "application/octet-stream" }),
      });
      req.on("error", () => undefined);
      let answered = false;
      void response.then(() => {
        answered = true;
      });
      for (let i = 0; i < 200 && !answered; i++) {
        req.write(Buffer.alloc(1024, 97));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const res = await response;
      expect(res.statusCode).toBe(401);
      await readAll(res).catch(() => undefined);
      req.destroy();
    }
  });

  describe("maxBodySize", () => {
    it("answers 413 from content-length before anything reaches fal, and closes the connection", async () => {
      const fal = await upstream();
      const { url } = await proxy(fal, { maxBodySize: 10 });
      const res = await send(url, { method: "POST", headers: call(), body: "x".repeat(100) });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.text).error.code).toBe("payload_too_large");
      expect(res.headers.connection).toBe("close");
      expect(fal.seen).toHaveLength(0);
    });

    it("cuts a chunked body past the cap: 413 to the client while it is still sending, fal's request aborted", async () => {
      const fal = await upstream((req) => req.resume());
      const ended = deferred<ResponseInfo>();
      const { url } = await proxy(fal, { maxBodySize: 10, onResponse: (info) => ended.resolve(info) });
      const { req, response } = rawRequest(url, {
        method: "POST",
        headers: call({ "transfer-encoding": "chunked", "content-type": "application/octet-stream" }),
      });
      req.on("error", () => undefined);
      req.write("01234");
      const seen = await fal.next();
      req.write("56789abcdef");
      const res = await response;
      expect(res.statusCode).toBe(413);
      expect(res.headers.connection).toBe("close");
      expect(JSON.parse((await readAll(res)).toString()).error.code).toBe("payload_too_large");
      await seen.aborted;
      expect(await ended.promise).toMatchObject({ status: 413, error: "payload_too_large" });
      req.destroy();
    });
  });
});

describe("hooks", () => {
  it("get a Fetch Request built on demand (absolute URL, every header, no body) and Node's own req/res", async () => {
    const fal = await upstream();
    const seen = deferred<{ request: Request; session: unknown; isNodeRes: boolean }>();
    const { url, port } = await proxy(
      fal,
      {
        allowUnauthenticated: false,
        authorize: (request, { req, res }) => {
          seen.resolve({
            request,
            session: (req as IncomingMessage & { session?: unknown }).session,
            isNodeRes: typeof res.writeHead === "function",
          });
          return { id: "alice" };
        },
      },
      (req) => {
        Object.assign(req, { session: { user: "alice" } }); // what express-session leaves on req
      },
    );
    await send(`${url}/api/fal/proxy/sub?x=1`, {
      method: "POST",
      headers: { ...call(), "x-multi": ["a", "b"], "x-forwarded-host": "evil.example" },
      body: "{}",
    });
    const { request, session, isNodeRes } = await seen.promise;
    expect(request).toBeInstanceOf(Request);
    expect(request.url).toBe(`http://127.0.0.1:${port}/api/fal/proxy/sub?x=1`);
    expect(request.method).toBe("POST");
    expect(request.headers.get("x-multi")).toBe("a, b");
    expect(request.body).toBeNull();
    expect(session).toEqual({ user: "alice" });
    expect(isNodeRes).toBe(true);
    // The hook's Request never consumed the body: fal got it.
    expect((await fal.seen[0]?.body)?.toString()).toBe("{}");
  });

  it("see x-forwarded-proto/host only with trustProxy, and a usable URL even when Host is not", async () => {
    const fal = await upstream();
    const urls: string[] = [];
    const options = (trustProxy: boolean): FalgateOptions<NodeContext> => ({
      trustProxy,
      authorize: (request) => {
        urls.push(request.url);
        return { id: "u" };
      },
    });
    const trusted = await proxy(fal, options(true));
    await send(`${trusted.url}/p`, {
      method: "POST",
      headers: call({ "x-forwarded-host": "app.example.com, proxy", "x-forwarded-proto": "https" }),
      body: "{}",
    });
    const plain = await proxy(fal, options(false));
    await send(`${plain.url}/p`, {
      method: "POST",
      headers: call({ host: "evil.example/../x" }),
      body: "{}",
    });
    expect(urls).toEqual(["https://app.example.com/p", `http://localhost:${plain.port}/p`]);
  });

  it("a hook's FalgateError keeps its status; any other throw is a 500 that leaks nothing", async () => {
    const fal = await upstream();
    const { url } = await proxy(fal, {
      authorize: (request) => {
        if (request.url.endsWith("/forbidden")) throw new FalgateError("forbidden", "nope");
        throw new Error("secret internals");
      },
    });
    const forbidden = await send(`${url}/forbidden`, { method: "POST", headers: call(), body: "{}" });
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.text)).toEqual({
      error: { code: "forbidden", message: "nope" },
      message: "nope",
    });
    const crash = await send(`${url}/other`, { method: "POST", headers: call(), body: "{}" });
    expect(crash.status).toBe(500);
    expect(crash.text).not.toContain("secret internals");
    expect(fal.seen).toHaveLength(0);
  });
});

describe("answers", () => {
  it("answers 405 for methods the Fetch API cannot represent, before any hook", async () => {
    const fal = await upstream();
    let called = false;
    const { url } = await proxy(fal, {
      authorize: () => {
        called = true;
        return { id: "u" };
      },
    });
    const res = await send(url, { method: "TRACE", headers: call() });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe("GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS");
    expect(called).toBe(false);
  });

  it("flushes SSE event by event", async () => {
    const next = deferred();
    const fal = await upstream(async (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('data: {"n":1}\n\n');
      await next.promise;
      res.end('data: {"n":2}\n\n');
    });
    const { url } = await proxy(fal);
    const { req, response } = rawRequest(url, { method: "POST", headers: call() });
    req.end("{}");
    const res = await response;
    expect(res.headers["content-type"]).toBe("text/event-stream");
    const seen = { text: "" };
    await readUntil(res, '{"n":1}', seen);
    expect(seen.text).not.toContain('{"n":2}');
    next.resolve();
    await readUntil(res, '{"n":2}', seen).catch(() => undefined);
    expect(seen.text).toBe('data: {"n":1}\n\ndata: {"n":2}\n\n');
  });

  it("HEAD gets headers only", async () => {
    const fal = await upstream((_req, res) => {
      res.writeHead(200, { "content-length": "5", "x-fal-request-id": "r1" });
      res.end();
    });
    const { url } = await proxy(fal);
    const res = await send(url, { method: "HEAD", headers: call() });
    expect(res.status).toBe(200);
    expect(res.headers["content-length"]).toBe("5");
    expect(res.headers["x-fal-request-id"]).toBe("r1");
    expect(res.body.length).toBe(0);
  });

  it("applies back-pressure: a client that stops reading stops the reads from fal", async () => {
    const chunk = Buffer.alloc(64 * 1024, 97);
    let written = 0;
    let upstreamRes!: ServerResponse;
    const fal = await upstream((_req, res) => {
      upstreamRes = res;
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const pump = () => {
        while (!res.destroyed && written < 512 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
      };
      pump();
    });
    const { url } = await proxy(fal);
    const { req, response } = rawRequest(url, { headers: call() });
    req.end();
    const res = await response;
    res.pause(); // the client reads nothing: buffers fill, then falgate must stop reading fal
    let last = -1;
    for (let round = 0; round < 500 && !(written === last && upstreamRes.writableNeedDrain); round++) {
      last = written;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const stalledAt = written;
    expect(upstreamRes.writableNeedDrain).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(written).toBe(stalledAt);
    // Socket buffers on loopback hold a few MiB: an unthrottled relay would have read far more.
    expect(stalledAt).toBeLessThan(64 * 1024 * 1024);
    // Reading again resumes the flow.
    const more = stalledAt + 16 * chunk.length;
    await new Promise<void>((resolve) => {
      res.on("data", () => {
        if (written < more) return;
        res.pause();
        resolve();
      });
      res.resume();
    });
    expect(written).toBeGreaterThanOrEqual(more);
    res.destroy();
  });

  it("a client leaving before the answer aborts fal's request, and the call reports client_closed", async () => {
    const fal = await upstream(() => undefined); // never answers
    const ended = deferred<ResponseInfo>();
    const { url } = await proxy(fal, { onResponse: (info) => ended.resolve(info) });
    const { req } = rawRequest(url, { method: "POST", headers: call() });
    req.on("error", () => undefined);
    req.end("{}");
    const seen = await fal.next();
    req.destroy();
    await seen.aborted;
    expect(await ended.promise).toMatchObject({ error: "client_closed" });
  });

  it("a body fal cuts half-way reaches the client cut (the connection is aborted, not ended cleanly)", async () => {
    const fal = await upstream((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "100" });
      res.write("partial");
      setTimeout(() => res.destroy(), 20);
    });
    const ended = deferred<ResponseInfo>();
    const { url } = await proxy(fal, { onResponse: (info) => ended.resolve(info) });
    const { req, response } = rawRequest(url, { headers: call() });
    req.end();
    const res = await response;
    await expect(readAll(res)).rejects.toThrow(/aborted/);
    expect(await ended.promise).toMatchObject({ status: 200, bytesOut: 7, error: "upstream_error" });
  });
});
