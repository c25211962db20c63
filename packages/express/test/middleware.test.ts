import { createServer } from "node:http";
import { connect } from "node:net";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  firstGzippedEvent,
  listen,
  SAME_ORIGIN,
  send,
  silentLogger,
} from "@falgate/testkit";
import compression from "compression";
import express5 from "express";
import express4 from "express4";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createFalgateHandler, type ExpressContext, type FalgateOptions } from "../src/index.js";

const PATH = "/api/fal/proxy";
const ECHO = "https://fal.run/fal-ai/echo";
type Express = typeof express5;

/** Falgate behind the middleware apps commonly mount before it: compression, body parsers, cookies. */
describe.each([
  ["Express 5", express5],
  ["Express 4", express4],
])("%s: falgate behind other middleware", (_name, express: Express) => {
  let mock: MockFal;
  const closers: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    mock = await startMockFal();
  });
  afterAll(() => mock.close());
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    mock.reset();
  });

  /** Serves `mount(app)` then falgate at PATH, on a real socket; resolves with the proxy URL. */
  async function serve(
    mount: (app: ReturnType<Express>) => void,
    options: FalgateOptions<ExpressContext> = conformanceOptions(mock),
  ): Promise<string> {
    const app = express();
    mount(app);
    app.use(PATH, createFalgateHandler({ ...options, logger: silentLogger() }));
    const server = await listen(createServer(app));
    closers.push(server.close);
    return `${server.origin}${PATH}`;
  }

  test("compression(): an SSE answer to `accept-encoding: gzip` arrives event by event, not held back by zlib", async () => {
    // Every /stream answer lasts a minute: its first event can only arrive in time if nothing buffers it.
    const slow = await startMockFal({ runMs: 60_000 });
    closers.push(() => slow.close());
    const url = await serve((app) => app.use(compression()), conformanceOptions(slow));
    const first = await firstGzippedEvent(url);
    expect(first).toMatchObject({ status: 200, encoding: "gzip" });
    expect((first.event as { images: unknown[] }).images).toHaveLength(1);
    expect(slow.requests.find((r) => r.path.endsWith("/stream"))?.finishedAt).toBeUndefined();
  });

  describe("a body already parsed by express.json() / urlencoded({ extended: true }) / text()", () => {
    const parsers = (app: ReturnType<Express>) => {
      app.use(express.json());
      app.use(express.urlencoded({ extended: true }));
      app.use(express.text({ type: "text/*" }));
    };

    /** Posts to the echo app and returns what mock-fal received. */
    async function forward(url: string, contentType: string, body: string | Buffer) {
      const answer = await send(url, {
        method: "POST",
        headers: { ...SAME_ORIGIN, "x-fal-target-url": ECHO, "content-type": contentType },
        body,
      });
      expect(answer.status).toBe(200);
      const seen = await mock.waitForRequest((r) => r.method === "POST" && r.complete);
      // The length announced upstream always matches the bytes sent.
      expect(seen.headers["content-length"]).toBe(String(seen.bodyLength));
      return { contentType: seen.headers["content-type"], body: seen.body!.toString("utf8") };
    }

    test("a nested form is re-encoded as a form with brackets, not as JSON", async () => {
      const url = await serve(parsers);
      const seen = await forward(
        url,
        "application/x-www-form-urlencoded",
        "a[b]=1&a[c][d]=deep&list[]=only&many=x&many=y&text=two+words",
      );
      expect(seen.contentType).toBe("application/x-www-form-urlencoded");
      expect([...new URLSearchParams(seen.body)]).toEqual([
        ["a[b]", "1"],
        ["a[c][d]", "deep"],
        ["list[0]", "only"],
        ["many", "x"],
        ["many", "y"],
        ["text", "two words"],
      ]);
    });

    test("a flat form stays a flat form", async () => {
      const url = await serve(parsers);
      const seen = await forward(url, "application/x-www-form-urlencoded", "a=1&c=2");
      expect(seen).toEqual({ contentType: "application/x-www-form-urlencoded", body: "a=1&c=2" });
    });

    test("text() of a non-UTF-8 charset is sent as UTF-8 and labelled utf-8", async () => {
      const url = await serve(parsers);
      const seen = await forward(url, "text/plain; charset=iso-8859-1", Buffer.from("caf\xe9", "latin1"));
      expect(seen).toEqual({ contentType: "text/plain; charset=utf-8", body: "café" });
    });

    test("JSON stays JSON with its content type", async () => {
      const url = await serve(parsers);
      const seen = await forward(url, "application/json; charset=utf-8", '{ "x": "é" }');
      expect(seen).toEqual({ contentType: "application/json; charset=utf-8", body: '{"x":"é"}' });
    });

    test("an object a JSON parser made of another content type is sent as application/json", async () => {
      const url = await serve((app) => app.use(express.json({ type: "text/x-json" })));
      const seen = await forward(url, "text/x-json", '{ "x": 1 }');
      expect(seen).toEqual({ contentType: "application/json", body: '{"x":1}' });
    });
  });

  test("repeated Cookie headers reach authorize joined with '; '", async () => {
    const cookies: Array<string | null> = [];
    const url = await serve(() => undefined, {
      ...conformanceOptions(mock),
      authorize: (req) => {
        cookies.push(req.headers.get("cookie"));
        return { id: "user" };
      },
    });
    // Node's http client folds a cookie array into one line: two Cookie lines need a raw socket. (The bridge
    // appends rawHeaders to a Headers, whose undici implementation joins cookies with "; ", unlike the spec's ", ".)
    const { hostname, port, pathname } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.write(
      [
        `POST ${pathname} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        `X-Fal-Target-Url: ${ECHO}`,
        "Cookie: session=abc",
        "Cookie: theme=dark",
        "Content-Length: 2",
        "Connection: close",
        "",
        "{}",
      ].join("\r\n"),
    );
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString("latin1")).toMatch(/^HTTP\/1\.1 200 /);
    expect(cookies).toEqual(["session=abc; theme=dark"]);
  });
});
