import type { IncomingMessage, ServerResponse } from "node:http";
import { FalgateError } from "@falgate/core";
import { startMockFal } from "@falgate/mock-fal";
import { afterEach, describe, expect, it } from "vitest";
import { createNodeFalgate, toNodeHandler, toWebRequest, writeWebResponse } from "../src/index.js";
import { deferred, listen, rawRequest, readAll, readUntil, send } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function serve(listener: (req: IncomingMessage, res: ServerResponse) => unknown) {
  const server = await listen((req, res) => void listener(req, res));
  cleanups.push(server.close);
  return server;
}

/** Reads the whole body of a Request as text (the handler side). */
async function echo(request: Request): Promise<Response> {
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : null;
  return Response.json({
    method: request.method,
    url: request.url,
    contentType: request.headers.get("content-type"),
    contentLength: request.headers.get("content-length"),
    body: body?.toString("utf8") ?? null,
    base64: body?.toString("base64") ?? null,
  });
}

describe("toWebRequest", () => {
  it("streams the request body: the handler reads the first chunk before the client finished sending", async () => {
    const firstChunk = deferred<string>();
    const { url } = await serve(
      toNodeHandler(async (request) => {
        const reader = request.body!.getReader();
        const decoder = new TextDecoder();
        let text = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (text === "") firstChunk.resolve(decoder.decode(value));
          text += decoder.decode(value);
        }
        return new Response(text);
      }),
    );
    const { req, response } = rawRequest(url, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
    });
    req.write("first-");
    // The client has not ended its request: the handler can only see this if the body streams.
    expect(await firstChunk.promise).toBe("first-");
    req.end("second");
    const res = await response;
    expect((await readAll(res)).toString()).toBe("first-second");
  });

  it("builds an absolute URL, keeps repeated headers and has no body for GET/HEAD", async () => {
    const seen = deferred<Request>();
    const { url, port } = await serve((req, res) => {
      seen.resolve(toWebRequest(req, res));
      res.end();
    });
    await send(`${url}/api/fal/proxy/sub?x=1`, {
      headers: { "x-multi": ["a", "b"], "x-forwarded-host": "evil.example" },
    });
    const request = await seen.promise;
    expect(request.url).toBe(`http://127.0.0.1:${port}/api/fal/proxy/sub?x=1`);
    expect(request.headers.get("x-multi")).toBe("a, b");
    expect(request.method).toBe("GET");
    expect(request.body).toBeNull();
  });

  it("uses x-forwarded-proto/host only with trustProxy", async () => {
    const seen = deferred<Request>();
    const { url } = await serve((req, res) => {
      seen.resolve(toWebRequest(req, res, { trustProxy: true }));
      res.end();
    });
    await send(`${url}/p`, {
      headers: { "x-forwarded-host": "app.example.com, proxy", "x-forwarded-proto": "https" },
    });
    expect((await seen.promise).url).toBe("https://app.example.com/p");
  });

  it("falls back to the socket address when the Host header is unusable", async () => {
    const seen = deferred<Request>();
    const { url, port } = await serve((req, res) => {
      seen.resolve(toWebRequest(req, res));
      res.end();
    });
    await send(`${url}/p`, { headers: { host: "evil.example/../x" } });
    expect((await seen.promise).url).toBe(`http://localhost:${port}/p`);
  });

  describe("bodies already parsed by a body parser", () => {
    // What express.json() / urlencoded() / text() / raw() leave behind: the stream consumed, req.body set.
    function parsedBy(parse: (raw: Buffer, req: IncomingMessage) => unknown) {
      const handler = toNodeHandler(echo);
      return async (req: IncomingMessage, res: ServerResponse) => {
        const raw = await readAll(req);
        Object.assign(req, { body: parse(raw, req), _body: true });
        await handler(req, res);
      };
    }

    it("re-encodes a parsed JSON object with the original content-type and a fresh length", async () => {
      const { url } = await serve(parsedBy((raw) => JSON.parse(raw.toString())));
      const body = '{ "prompt" : "a cat",\n "n": 2 }';
      const res = await send(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      const seen = JSON.parse(res.text);
      expect(seen.body).toBe('{"prompt":"a cat","n":2}');
      expect(seen.contentType).toBe("application/json");
      expect(seen.contentLength).toBe(String(Buffer.byteLength(seen.body)));
    });

    it("passes a raw Buffer and a text string through as they are", async () => {
      const bytes = Buffer.from([0, 1, 2, 255, 254]);
      const raw = await serve(parsedBy((b) => b));
      const rawRes = await send(raw.url, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: bytes,
      });
      expect(Buffer.from(JSON.parse(rawRes.text).base64, "base64")).toEqual(bytes);

      const text = await serve(parsedBy((b) => b.toString("utf8")));
      const textRes = await send(text.url, {
        method: "PUT",
        headers: { "content-type": "text/plain" },
        body: "héllo",
      });
      expect(JSON.parse(textRes.text)).toMatchObject({ method: "PUT", body: "héllo", contentLength: "6" });
    });

    it("a body-less request stays body-less even when a parser left `{}` (empty queue-cancel PUT)", async () => {
      const { url } = await serve(parsedBy(() => ({})));
      const res = await send(url, {
        method: "PUT",
        headers: { "content-type": "application/json", "content-length": "0" },
        body: "",
      });
      const seen = JSON.parse(res.text);
      expect(seen.method).toBe("PUT");
      expect(seen.body ?? "").toBe("");
      expect(seen.contentLength ?? "0").toBe("0");
    });

    it("re-encodes a urlencoded form as a form", async () => {
      const { url } = await serve(parsedBy((raw) => Object.fromEntries(new URLSearchParams(raw.toString()))));
      const res = await send(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "a=1&b=two+words",
      });
      expect(JSON.parse(res.text).body).toBe("a=1&b=two+words");
    });

    it("streams the raw body when a parser set req.body but skipped the request (body-parser 1.x)", async () => {
      const handler = toNodeHandler(echo);
      const { url } = await serve((req, res) => {
        Object.assign(req, { body: {} }); // express.json() on a non-JSON request
        return handler(req, res);
      });
      const res = await send(url, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: "PNGDATA",
      });
      expect(JSON.parse(res.text).body).toBe("PNGDATA");
    });
  });

  describe("a request body the handler cancels while the client is still sending", () => {
    it("more bytes after a cancel during a pending read are left alone (no enqueue on a closed stream)", async () => {
      const cancelled = deferred();
      let source!: IncomingMessage;
      const handler = toNodeHandler(async (request) => {
        const reader = request.body!.getReader();
        await reader.read();
        const pending = reader.read(); // a pull now waits on the Node stream
        await new Promise((resolve) => setImmediate(resolve));
        await reader.cancel("done with it"); // what undici does when the upstream answers mid-upload
        expect(await pending).toEqual({ done: true, value: undefined });
        const more = new Promise((resolve) => source.once("readable", resolve));
        cancelled.resolve();
        await more; // the client's next bytes reached the server: nothing may have tried to enqueue them
        return new Response("early answer", { status: 502 });
      });
      const { url } = await serve((req, res) => {
        source = req;
        return handler(req, res);
      });
      const { req, response } = rawRequest(url, {
        method: "POST",
        headers: { "transfer-encoding": "chunked" },
      });
      req.on("error", () => undefined);
      req.write("first");
      await cancelled.promise;
      req.write("second");
      const res = await response;
      expect(res.statusCode).toBe(502);
      expect((await readAll(res)).toString()).toBe("early answer");
      req.destroy();
    });

    it("an upstream that answers 401 during a slow chunked upload: the client gets the 401, the process lives", async () => {
      const mock = await startMockFal();
      cleanups.push(() => mock.close());
      mock.fault({ kind: "status", status: 401, method: "POST", delayMs: 20 });
      const { url } = await serve(
        toNodeHandler(
          createNodeFalgate({
            credentials: mock.key,
            upstream: mock.url,
            authorize: () => ({ id: "u" }),
            logger: { warn: () => undefined, error: () => undefined },
          }),
        ),
      );
      // Each round races the upstream's early answer against the client's next chunk; a few rounds make
      // "a chunk arrives after undici cancelled the body during a pending read" all but certain.
      for (let round = 0; round < 5; round++) {
        const { req, response } = rawRequest(`${url}/api/fal/proxy`, {
          method: "POST",
          headers: {
            "transfer-encoding": "chunked",
            "content-type": "application/octet-stream",
            "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl",
          },
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
  });

  it("aborts request.signal when the client disconnects before the answer", async () => {
    const started = deferred();
    const aborted = deferred<boolean>();
    const written = deferred();
    const handler = toNodeHandler(async (request) => {
      started.resolve();
      await new Promise((resolve) => request.signal.addEventListener("abort", resolve, { once: true }));
      aborted.resolve(request.signal.aborted);
      return new Response("too late");
    });
    const { url } = await serve(async (req, res) => {
      await handler(req, res);
      written.resolve();
    });
    const { req } = rawRequest(url);
    req.on("error", () => undefined);
    req.end();
    await started.promise;
    req.destroy();
    expect(await aborted.promise).toBe(true);
    await written.promise; // writing to a vanished client resolves instead of throwing
  });

  it("does not abort request.signal when the response finished normally", async () => {
    const seen = deferred<Request>();
    const handler = toNodeHandler(async (request) => {
      seen.resolve(request);
      return new Response("ok");
    });
    const finished = deferred();
    const { url } = await serve(async (req, res) => {
      res.once("close", () => finished.resolve());
      await handler(req, res);
    });
    expect((await send(url)).text).toBe("ok");
    await finished.promise;
    expect((await seen.promise).signal.aborted).toBe(false);
  });

  describe("maxBodySize", () => {
    it("answers 413 from content-length without calling the handler", async () => {
      let called = false;
      const { url } = await serve(
        toNodeHandler(
          async () => {
            called = true;
            return new Response("no");
          },
          { maxBodySize: 10 },
        ),
      );
      const res = await send(url, { method: "POST", body: "x".repeat(100) });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.text).error.code).toBe("payload_too_large");
      expect(res.headers.connection).toBe("close");
      expect(called).toBe(false);
    });

    it("fails the streamed body past the cap and answers 413 while the client is still sending", async () => {
      const readError = deferred<unknown>();
      const { url } = await serve(
        toNodeHandler(
          async (request) => {
            try {
              await request.arrayBuffer();
            } catch (error) {
              readError.resolve(error);
              throw error;
            }
            return new Response("no");
          },
          { maxBodySize: 10 },
        ),
      );
      const { req, response } = rawRequest(url, {
        method: "POST",
        headers: { "transfer-encoding": "chunked" },
      });
      req.on("error", () => undefined);
      req.write("0123456789abcdef");
      const res = await response;
      expect(res.statusCode).toBe(413);
      expect(res.headers.connection).toBe("close");
      expect(JSON.parse((await readAll(res)).toString()).error.code).toBe("payload_too_large");
      expect(await readError.promise).toMatchObject({ name: "FalgateError", code: "payload_too_large" });
      req.destroy();
    });

    it("maps a handler failure caused by the cap to 413 even if the handler answered otherwise", async () => {
      const { url } = await serve(
        toNodeHandler(
          async (request) => {
            const ok = await request.arrayBuffer().then(
              () => true,
              () => false,
            );
            return new Response(ok ? "ok" : "upstream failed", { status: ok ? 200 : 502 });
          },
          { maxBodySize: 4 },
        ),
      );
      const { req, response } = rawRequest(url, {
        method: "POST",
        headers: { "transfer-encoding": "chunked" },
      });
      req.on("error", () => undefined);
      req.write("0123456789");
      const res = await response;
      expect(res.statusCode).toBe(413);
      await readAll(res);
      req.destroy();
    });
  });

  it("answers 405 for methods the Fetch API cannot represent", async () => {
    let called = false;
    const { url } = await serve(
      toNodeHandler(async () => {
        called = true;
        return new Response("no");
      }),
    );
    const res = await send(url, { method: "TRACE" });
    expect(res.status).toBe(405);
    expect(JSON.parse(res.text).error.code).toBe("method_not_allowed");
    expect(res.headers.allow).toBe("GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS");
    expect(called).toBe(false);
  });

  it("maps a throw to the JSON error response", async () => {
    const { url } = await serve(
      toNodeHandler(async (request) => {
        if (request.url.endsWith("/forbidden")) throw new FalgateError("forbidden", "nope");
        throw new Error("secret internals");
      }),
    );
    const forbidden = await send(`${url}/forbidden`);
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.text)).toEqual({
      error: { code: "forbidden", message: "nope" },
      message: "nope",
    });
    const crash = await send(`${url}/other`);
    expect(crash.status).toBe(500);
    expect(crash.text).not.toContain("secret internals");
    expect(JSON.parse(crash.text).error.code).toBe("internal_error");
  });
});

describe("writeWebResponse", () => {
  it("sends every Set-Cookie separately", async () => {
    const { url } = await serve((_req, res) => {
      const headers = new Headers({ "content-type": "text/plain" });
      headers.append("set-cookie", "a=1; Path=/; HttpOnly");
      headers.append("set-cookie", "b=2, with comma; Path=/");
      return writeWebResponse(res, new Response("ok", { status: 201, statusText: "Made", headers }));
    });
    const res = await send(url);
    expect(res.status).toBe(201);
    expect(res.headers["set-cookie"]).toEqual(["a=1; Path=/; HttpOnly", "b=2, with comma; Path=/"]);
    expect(res.text).toBe("ok");
  });

  it("flushes SSE event by event", async () => {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
    });
    const done = deferred();
    const { url } = await serve(async (_req, res) => {
      await writeWebResponse(res, new Response(body, { headers: { "content-type": "text/event-stream" } }));
      done.resolve();
    });
    const { req, response } = rawRequest(url);
    req.end();
    const res = await response; // headers arrive before any event was produced
    expect(res.headers["content-type"]).toBe("text/event-stream");
    const seen = { text: "" };
    const encoder = new TextEncoder();
    controller.enqueue(encoder.encode('data: {"n":1}\n\n'));
    await readUntil(res, '{"n":1}', seen);
    expect(seen.text).not.toContain('{"n":2}');
    controller.enqueue(encoder.encode('data: {"n":2}\n\n'));
    await readUntil(res, '{"n":2}', seen);
    controller.close();
    await readAll(res);
    await done.promise;
    expect(seen.text).toBe('data: {"n":1}\n\ndata: {"n":2}\n\n');
  });

  it("answers HEAD with headers only and cancels the body", async () => {
    const cancelled = deferred<unknown>();
    const { url } = await serve((_req, res) =>
      writeWebResponse(
        res,
        new Response(
          new ReadableStream({
            pull(c) {
              c.enqueue(new TextEncoder().encode("hello"));
            },
            cancel: (reason) => cancelled.resolve(reason),
          }),
          { headers: { "content-length": "5", "x-fal-request-id": "r1" } },
        ),
      ),
    );
    const res = await send(url, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers["content-length"]).toBe("5");
    expect(res.headers["x-fal-request-id"]).toBe("r1");
    expect(res.body.length).toBe(0);
    await cancelled.promise;
  });

  it("applies back-pressure: a paused client stops the body from being pulled", async () => {
    const chunk = new Uint8Array(64 * 1024).fill(97);
    let pulls = 0;
    const cancelled = deferred();
    let target!: ServerResponse;
    const { url } = await serve((req, res) => {
      if (req.url === "/ping") return void res.end("pong");
      target = res;
      return writeWebResponse(
        res,
        new Response(
          new ReadableStream<Uint8Array>(
            {
              pull(c) {
                pulls++;
                c.enqueue(chunk);
              },
              cancel: () => cancelled.resolve(),
            },
            { highWaterMark: 0 },
          ),
        ),
      );
    });
    const { req, response } = rawRequest(url);
    req.end();
    const res = await response;
    res.pause(); // the client reads nothing: socket buffers fill up, then the writer must wait for 'drain'
    // Round trips on another connection are the clock: wait until the writer is parked on a full buffer.
    let last = -1;
    for (let round = 0; round < 500 && !(pulls === last && target.writableNeedDrain); round++) {
      last = pulls;
      await send(`${url}/ping`);
    }
    const stalledAt = pulls;
    expect(target.writableNeedDrain).toBe(true);
    for (let round = 0; round < 5; round++) expect((await send(`${url}/ping`)).text).toBe("pong");
    expect(pulls).toBe(stalledAt);
    // Loopback socket buffers hold a few MiB at most: an unthrottled writer would have pulled far more.
    expect(stalledAt * chunk.byteLength).toBeLessThan(64 * 1024 * 1024);
    // Reading again resumes the flow: more than the buffers held must be pulled now.
    const more = stalledAt + 64;
    await new Promise<void>((resolve) => {
      res.on("data", () => {
        if (pulls < more) return;
        res.pause();
        resolve();
      });
      res.resume();
    });
    expect(pulls).toBeGreaterThanOrEqual(more);
    res.destroy();
    await cancelled.promise; // client gone -> the body is cancelled
  });

  it("aborts the connection when the body fails half-way instead of ending it cleanly", async () => {
    const { url } = await serve((_req, res) => {
      let sent = false;
      return writeWebResponse(
        res,
        new Response(
          new ReadableStream({
            pull(c) {
              if (sent) return c.error(new Error("upstream dropped"));
              sent = true;
              c.enqueue(new TextEncoder().encode("partial"));
            },
          }),
        ),
      );
    });
    const { req, response } = rawRequest(url);
    req.end();
    const res = await response;
    await expect(readAll(res)).rejects.toThrow(/aborted/);
  });

  it("resolves without writing when the response was already sent", async () => {
    const cancelled = deferred();
    const { url } = await serve(async (_req, res) => {
      res.end("first");
      await writeWebResponse(res, new Response(new ReadableStream({ cancel: () => cancelled.resolve() })));
    });
    expect((await send(url)).text).toBe("first");
    await cancelled.promise;
  });
});
