import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import zlib from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { createUndiciFetch, type UndiciFetch } from "../src/index.js";
import { deferred, listen, readAll } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function upstream(route: (req: IncomingMessage, res: ServerResponse) => unknown) {
  const server = await listen((req, res) => void route(req, res));
  cleanups.push(server.close);
  return server;
}

function transport(options?: Parameters<typeof createUndiciFetch>[0]): UndiciFetch {
  const fetch = createUndiciFetch(options);
  cleanups.push(() => fetch.close());
  return fetch;
}

const encoder = new TextEncoder();

describe("createUndiciFetch", () => {
  it("streams the request body upstream and the response body back, chunk by chunk", async () => {
    const firstUp = deferred<string>();
    const secondDown = deferred();
    const { url } = await upstream(async (req, res) => {
      req.once("data", (chunk: Buffer) => firstUp.resolve(chunk.toString()));
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.write("down-1|");
      await secondDown.promise;
      const rest = await readAll(req);
      res.end(`down-2|${rest.toString()}`);
    });
    let send!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        send = c;
      },
    });
    send.enqueue(encoder.encode("up-1|"));
    const fetch = transport();
    const response = await fetch(`${url}/stream`, {
      method: "POST",
      body,
      headers: { "content-type": "application/octet-stream" },
      duplex: "half",
    } as RequestInit);
    // Upstream got the first chunk while our body stream is still open.
    expect(await firstUp.promise).toBe("up-1|");
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("down-1|");
    send.enqueue(encoder.encode("up-2"));
    send.close();
    secondDown.resolve();
    let rest = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toBe("down-2|up-2");
  });

  it("sends method, headers, a declared length for streams, and never follows redirects", async () => {
    const seen = deferred<{ method?: string; headers: IncomingMessage["headers"]; body: string }>();
    const { url } = await upstream(async (req, res) => {
      seen.resolve({ method: req.method, headers: req.headers, body: (await readAll(req)).toString() });
      res.writeHead(302, { location: "https://elsewhere.example/" });
      res.end();
    });
    const fetch = transport();
    const response = await fetch(new URL(`${url}/a?b=1`), {
      method: "put",
      headers: { "x-fal-runner-hint": "h", "content-length": "5", connection: "keep-alive", host: "spoof" },
      body: new Response("hello").body,
      duplex: "half",
      redirect: "manual",
    } as RequestInit);
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("https://elsewhere.example/");
    const got = await seen.promise;
    expect(got.method).toBe("PUT");
    expect(got.body).toBe("hello");
    expect(got.headers["content-length"]).toBe("5");
    expect(got.headers["transfer-encoding"]).toBeUndefined();
    expect(got.headers["x-fal-runner-hint"]).toBe("h");
    expect(got.headers.host).toBe(new URL(url).host);
  });

  it("accepts a Request as input and string, bytes and Blob bodies", async () => {
    const bodies: string[] = [];
    const types: Array<string | undefined> = [];
    const { url } = await upstream(async (req, res) => {
      bodies.push((await readAll(req)).toString());
      types.push(req.headers["content-type"]);
      res.end("ok");
    });
    const fetch = transport();
    await (await fetch(new Request(url, { method: "POST", body: "from-request" }))).text();
    await (await fetch(url, { method: "POST", body: "a string" })).text();
    await (await fetch(url, { method: "POST", body: encoder.encode("bytes") })).text();
    await (await fetch(url, { method: "POST", body: new Blob(["blob"], { type: "image/png" }) })).text();
    await (await fetch(url, { method: "POST", body: new URLSearchParams({ a: "1" }) })).text();
    expect(bodies).toEqual(["from-request", "a string", "bytes", "blob", "a=1"]);
    expect(types[3]).toBe("image/png");
    expect(types[4]).toMatch(/^application\/x-www-form-urlencoded/);
  });

  it("keeps every Set-Cookie and gives HEAD / 204 answers a null body", async () => {
    const { url } = await upstream((req, res) => {
      if (req.url === "/empty") {
        res.writeHead(204);
        return void res.end();
      }
      res.setHeader("set-cookie", ["a=1", "b=2"]);
      res.setHeader("content-length", "5");
      res.end(req.method === "HEAD" ? undefined : "hello");
    });
    const fetch = transport();
    const get = await fetch(url);
    expect(get.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(await get.text()).toBe("hello");
    const head = await fetch(url, { method: "HEAD" });
    expect(head.body).toBeNull();
    expect(head.headers.get("content-length")).toBe("5");
    const empty = await fetch(`${url}/empty`);
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
  });

  describe("decodes compressed answers like fetch", () => {
    const text = JSON.stringify({ images: [{ url: "https://x/y.png" }], pad: "z".repeat(5000) });
    const cases: Array<[string, (b: Buffer) => Buffer]> = [
      ["gzip", zlib.gzipSync],
      ["br", zlib.brotliCompressSync],
      ["deflate", zlib.deflateSync],
      ["deflate", zlib.deflateRawSync], // raw deflate, as some servers send it
      ["gzip, br", (b) => zlib.brotliCompressSync(zlib.gzipSync(b))],
    ];
    it.each(cases)("%s (%#)", async (encoding, compress) => {
      const compressed = compress(Buffer.from(text));
      const { url } = await upstream((_req, res) => {
        res.writeHead(200, {
          "content-type": "application/json",
          "content-encoding": encoding,
          "content-length": compressed.length,
        });
        res.end(compressed);
      });
      const response = await transport()(url);
      // Like fetch: the body is decoded, the headers still say how it travelled (the core drops them).
      expect(response.headers.get("content-encoding")).toBe(encoding);
      expect(await response.text()).toBe(text);
    });

    it("passes an unknown coding through untouched", async () => {
      const { url } = await upstream((_req, res) => {
        res.writeHead(200, { "content-encoding": "compress" });
        res.end("raw-bytes");
      });
      expect(await (await transport()(url)).text()).toBe("raw-bytes");
    });

    it("decodes a gzipped event stream incrementally", async () => {
      const next = deferred();
      const { url } = await upstream(async (_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream", "content-encoding": "gzip" });
        const gzip = zlib.createGzip();
        gzip.pipe(res);
        gzip.write('data: {"n":1}\n\n');
        gzip.flush();
        await next.promise;
        gzip.end('data: {"n":2}\n\n');
      });
      const response = await transport()(url);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      expect((await reader.read()).value).toBe('data: {"n":1}\n\n');
      next.resolve();
      let rest = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += value;
      }
      expect(rest).toBe('data: {"n":2}\n\n');
    });
  });

  it("fails with cause.code ECONNREFUSED when nothing listens", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await transport()(`http://127.0.0.1:${port}/`).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as { cause?: { code?: string } }).cause?.code).toBe("ECONNREFUSED");
  });

  it("rejects with the request body's own error when the body stream fails", async () => {
    const { url } = await upstream(async (req, res) => {
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    const boom = new Error("body cap reached");
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(encoder.encode("part"));
      },
      pull(c) {
        c.error(boom);
      },
    });
    await expect(transport()(url, { method: "POST", body, duplex: "half" } as RequestInit)).rejects.toBe(
      boom,
    );
  });

  it("abort before the answer rejects with the signal's reason and closes the upstream request", async () => {
    const arrived = deferred();
    const closed = deferred();
    const { url } = await upstream((_req, res) => {
      res.on("close", () => closed.resolve());
      arrived.resolve(); // never answers
    });
    const controller = new AbortController();
    const pending = transport()(url, { signal: controller.signal });
    await arrived.promise;
    const reason = new Error("client went away");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await closed.promise;
  });

  it("abort while the body streams errors the body and closes the upstream request", async () => {
    const closed = deferred<boolean>();
    const { url } = await upstream((_req, res) => {
      res.on("close", () => closed.resolve(res.writableFinished));
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: 1\n\n"); // ...and then stalls forever
    });
    const controller = new AbortController();
    const response = await transport()(url, { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await expect(reader.read()).rejects.toThrow();
    expect(await closed.promise).toBe(false);
  });

  it("cancelling the response body closes the upstream request", async () => {
    const closed = deferred<boolean>();
    const { url } = await upstream((_req, res) => {
      res.on("close", () => closed.resolve(res.writableFinished));
      res.writeHead(200);
      res.write("x");
    });
    const response = await transport()(url);
    await response.body!.cancel();
    expect(await closed.promise).toBe(false);
  });

  it("reuses one keep-alive connection for sequential calls", async () => {
    const ports: number[] = [];
    const { url } = await upstream((req, res) => {
      ports.push(req.socket.remotePort ?? -1);
      res.end("ok");
    });
    const single = transport({ connections: 1 });
    for (let i = 0; i < 3; i++)
      expect(await (await single(`${url}/${i}`, { method: "POST", body: "x" })).text()).toBe("ok");
    expect(ports).toHaveLength(3);
    expect(new Set(ports).size).toBe(1);
    // Unbounded pool: undici waits one event-loop turn before reusing a socket, so back-to-back calls may
    // alternate between two connections, never more.
    ports.length = 0;
    const pooled = transport();
    for (let i = 0; i < 6; i++) expect(await (await pooled(`${url}/${i}`)).text()).toBe("ok");
    expect(new Set(ports).size).toBeLessThanOrEqual(2);
  });

  it("close() ends the pool it created", async () => {
    const { url } = await upstream((_req, res) => res.end("ok"));
    const fetch = createUndiciFetch();
    expect(await (await fetch(url)).text()).toBe("ok");
    await fetch.close();
    await expect(fetch(url)).rejects.toThrow();
  });
});
