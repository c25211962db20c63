import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createFalgate } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { attachTunnel, createNodeHandler, type NodeTunnel } from "@falgate/node";
import { launchChromium } from "@falgate/testkit";
import { decode } from "@msgpack/msgpack";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/*
 * connectRealtime from a real Chromium page, through falgate's Node tunnel, to mock-fal. The page is a tiny
 * esbuild bundle of the client sources; the loopback server serves it next to falgate (proxy, token route,
 * tunnel), so the page is same-origin with the tunnel exactly as in an app.
 */

const APP = "fal-ai/fast-lcm-diffusion";
const SECRET = "browser-test-secret-at-least-32-bytes!";
const here = dirname(fileURLToPath(import.meta.url));

const PAGE_SCRIPT = `
import { connectRealtime, createTokenProvider } from "../src/index.ts";
window.falgateClient = { connectRealtime, createTokenProvider };
document.body.dataset.ready = "1";
`;

/** Runs in the page: opens a connection, sends `inputs` one after another (each after the previous result). */
interface RunOptions {
  app: string;
  encoding: "msgpack" | "json";
  inputs: Record<string, unknown>[];
  /** Stop after this many errors instead of waiting for every result. */
  maxErrors?: number;
}

interface RunResult {
  results: { url: string | null; seed: unknown }[];
  errors: { kind: string; code: string; message: string; willRetry: boolean; closeCode?: number }[];
  states: string[];
}

declare global {
  interface Window {
    falgateClient: typeof import("../src/index.js");
  }
}

function runInPage(page: Page, options: RunOptions): Promise<RunResult> {
  return page.evaluate(
    (opts) =>
      new Promise<RunResult>((resolve) => {
        const out: RunResult = { results: [], errors: [], states: [] };
        let next = 0;
        const finish = () => {
          conn.close();
          resolve(out);
        };
        const conn = window.falgateClient.connectRealtime<
          Record<string, unknown>,
          { images?: { url: string }[]; seed?: unknown }
        >(opts.app, {
          encoding: opts.encoding,
          reconnect: { minDelay: 50, maxDelay: 200, maxRetries: 3 },
          onStateChange: (state) => out.states.push(state),
          onResult: (result) => {
            out.results.push({ url: result.images?.[0]?.url ?? null, seed: result.seed });
            if (next < opts.inputs.length) conn.send(opts.inputs[next++]!);
            else finish();
          },
          onError: (error) => {
            out.errors.push({
              kind: error.kind,
              code: error.code,
              message: error.message,
              willRetry: error.willRetry,
              closeCode: error.closeCode,
            });
            if (opts.maxErrors !== undefined && out.errors.length >= opts.maxErrors) finish();
            else if (!error.willRetry) finish();
          },
        });
        conn.send(opts.inputs[next++]!);
      }),
    options,
  );
}

describe("connectRealtime in Chromium through the falgate tunnel", () => {
  let mock: MockFal;
  let server: Server;
  let tunnel: NodeTunnel;
  let browser: Browser;
  let page: Page;
  let origin: string;

  beforeAll(async () => {
    const bundle = await build({
      stdin: { contents: PAGE_SCRIPT, resolveDir: here, loader: "ts", sourcefile: "page.ts" },
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      write: false,
      logLevel: "silent",
    });
    const script = bundle.outputFiles[0]!.text;
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>falgate client</title></head><body><script type="module" src="/app.js"></script></body></html>`;

    mock = await startMockFal();
    const falgate = createFalgate({
      upstream: mock.url,
      credentials: mock.key,
      allowedEndpoints: [APP],
      tokens: { secret: SECRET },
      // A session cookie stands in for an app's login.
      authorize: (request: Request) =>
        /(?:^|;\s*)user=tester/.test(request.headers.get("cookie") ?? "") ? { id: "tester" } : null,
      env: {},
      logger: { warn: () => {}, error: () => {} },
    });
    const proxy = createNodeHandler(falgate);
    server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/") res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html);
      else if (path === "/app.js")
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
      else if (path?.startsWith("/api/fal/proxy")) void proxy(req, res);
      else res.writeHead(404).end();
    });
    tunnel = attachTunnel(server, falgate);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    browser = await launchChromium();
    const context = await browser.newContext();
    await context.addCookies([{ name: "user", value: "tester", url: origin }]);
    page = await context.newPage();
    await page.goto(origin);
    await page.waitForSelector("body[data-ready='1']", { state: "attached" });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await tunnel?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await mock?.close();
  });

  it("delivers msgpack results through the tunnel, one token per connection, key only upstream", async () => {
    mock.reset();
    const inputs = [1, 2, 3].map((seed) => ({ prompt: "a cat", seed, sync_mode: false }));
    const run = await runInPage(page, { app: APP, encoding: "msgpack", inputs });
    expect(run.errors).toEqual([]);
    expect(run.results.map((r) => r.seed)).toEqual([1, 2, 3]);
    for (const result of run.results)
      expect(result.url).toMatch(new RegExp(`^${mock.url}/_cdn/images/[0-9a-f]+\\.png$`));
    expect(run.states).toEqual(["connecting", "open", "idle"]);

    const upstream = mock.requests.filter((r) => r.websocket);
    expect(upstream).toHaveLength(1);
    expect(upstream[0]!.path).toBe(`/${APP}/realtime`);
    expect(upstream[0]!.headers.authorization).toBe(`Key ${mock.key}`);
    expect(upstream[0]!.search).not.toContain("fal_jwt_token");
    const received = (upstream[0]!.frames ?? []).filter((f) => f.direction === "in");
    expect(received.every((f) => f.binary)).toBe(true);
    expect(received.map((f) => (decode(f.data) as { seed: number }).seed)).toEqual([1, 2, 3]);
  });

  it("sends JSON text frames with encoding: json", async () => {
    mock.reset();
    const run = await runInPage(page, { app: APP, encoding: "json", inputs: [{ prompt: "json", seed: 9 }] });
    expect(run.errors).toEqual([]);
    expect(run.results.map((r) => r.seed)).toEqual([9]);
    const frames = mock.requests.find((r) => r.websocket)?.frames ?? [];
    const input = frames.find((f) => f.direction === "in");
    expect(input?.binary).toBe(false);
    expect(JSON.parse(input!.data.toString("utf8"))).toEqual({ prompt: "json", seed: 9 });
  });

  it("reconnects with a fresh token after fal drops the connection", async () => {
    mock.reset();
    const inputs = [
      { prompt: "before", seed: 1 },
      { prompt: "drop", mock_close: { code: 1011, reason: "gone" } },
      { prompt: "after", seed: 3 },
    ];
    // The drop input gets no result: the page sends the third input itself once the error is reported.
    const run = await page.evaluate(
      (opts) =>
        new Promise<RunResult>((resolve) => {
          const out: RunResult = { results: [], errors: [], states: [] };
          const conn = window.falgateClient.connectRealtime<Record<string, unknown>, { seed?: unknown }>(
            opts.app,
            {
              reconnect: { minDelay: 50, maxDelay: 200, maxRetries: 3 },
              onStateChange: (state) => out.states.push(state),
              onResult: (result) => {
                out.results.push({ url: null, seed: result.seed });
                if (out.results.length === 1) conn.send(opts.inputs[1]!);
                else {
                  conn.close();
                  resolve(out);
                }
              },
              onError: (error) => {
                out.errors.push({
                  kind: error.kind,
                  code: error.code,
                  message: error.message,
                  willRetry: error.willRetry,
                });
                conn.send(opts.inputs[2]!);
              },
            },
          );
          conn.send(opts.inputs[0]!);
        }),
      { app: APP, inputs },
    );
    expect(run.results.map((r) => r.seed)).toEqual([1, 3]);
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]).toMatchObject({ kind: "closed", code: "closed_1011", willRetry: true });
    expect(run.states).toContain("reconnecting");
    expect(mock.requests.filter((r) => r.websocket)).toHaveLength(2);
  });

  it("an exception in onResult reaches window.onerror and the connection keeps working", async () => {
    const run = await page.evaluate(
      (app) =>
        new Promise<{ seeds: unknown[]; pageErrors: string[] }>((resolve) => {
          const seeds: unknown[] = [];
          const pageErrors: string[] = [];
          const onError = (event: ErrorEvent) => {
            pageErrors.push(event.message);
            event.preventDefault();
          };
          window.addEventListener("error", onError);
          const conn = window.falgateClient.connectRealtime<Record<string, unknown>, { seed?: unknown }>(
            app,
            {
              onResult: (result) => {
                seeds.push(result.seed);
                if (seeds.length === 1) {
                  conn.send({ prompt: "second", seed: 2 });
                  throw new Error("bug in the app's onResult");
                }
                conn.close();
                // The rethrow is scheduled with setTimeout(0): let it land before reporting.
                setTimeout(() => {
                  window.removeEventListener("error", onError);
                  resolve({ seeds, pageErrors });
                }, 0);
              },
            },
          );
          conn.send({ prompt: "first", seed: 1 });
        }),
      APP,
    );
    expect(run.seeds).toEqual([1, 2]);
    expect(run.pageErrors).toEqual([expect.stringContaining("bug in the app's onResult")]);
  });

  it("reports a refused token request (signed out) without retrying", async () => {
    const context = await browser.newContext();
    try {
      const anonymous = await context.newPage();
      await anonymous.goto(origin);
      await anonymous.waitForSelector("body[data-ready='1']", { state: "attached" });
      mock.reset();
      const run = await runInPage(anonymous, { app: APP, encoding: "msgpack", inputs: [{ prompt: "x" }] });
      expect(run.results).toEqual([]);
      expect(run.errors).toHaveLength(1);
      expect(run.errors[0]).toMatchObject({ kind: "token", code: "unauthenticated", willRetry: false });
      expect(mock.requests.filter((r) => r.websocket)).toHaveLength(0);
    } finally {
      await context.close();
    }
  });

  it("reports an app outside the endpoint policy", async () => {
    const run = await runInPage(page, {
      app: "fal-ai/other-app",
      encoding: "msgpack",
      inputs: [{ prompt: "x" }],
    });
    expect(run.errors).toEqual([
      expect.objectContaining({ kind: "token", code: "endpoint_not_allowed", willRetry: false }),
    ]);
  });
});
