import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { type RunningServer, startServer } from "@falgate/node";
import { launchChromium } from "@falgate/testkit";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/*
 * (Here rather than in @falgate/node for this package's Chromium setup.) CORS preflights as Chromium makes them: a page on one loopback origin calls the standalone server on another
 * (an origin in `allowedOrigins`), with the headers the official client sends, including the `x-fal-request-source`
 * header it is adding. The browser, not a hand-written OPTIONS request, decides whether the preflight passed.
 */

const RUN = "https://fal.run/fal-ai/fast-sdxl";
const silent = { warn: () => undefined, error: () => undefined };

let mock: MockFal;
let app: Server;
let gate: RunningServer;
let browser: Browser;
let page: Page;
let proxy: string;

beforeAll(async () => {
  mock = await startMockFal({ runMs: 20 });
  app = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>app</title>");
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  gate = await startServer({
    port: 0,
    host: "127.0.0.1",
    credentials: mock.key,
    upstream: mock.url,
    allowedOrigins: [origin],
    logger: silent,
  });
  proxy = `${gate.url}/api/fal/proxy`;
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(origin);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gate?.close();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  await mock?.close();
});

interface PageAnswer {
  ok: boolean;
  status?: number;
  requestId?: string | null;
  error?: string;
}

/** A cross-origin fetch from the page, as the official client makes it (JSON body, target in a header). */
function fetchFromPage(headers: Record<string, string>): Promise<PageAnswer> {
  return page.evaluate(
    async ({ url, headers }) => {
      try {
        const response = await fetch(url, {
          method: "POST",
          credentials: "include",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ prompt: "from chromium" }),
        });
        await response.text();
        return { ok: true, status: response.status, requestId: response.headers.get("x-fal-request-id") };
      } catch (error) {
        return { ok: false, error: String(error) };
      }
    },
    { url: proxy, headers },
  );
}

describe("CORS preflights in Chromium", () => {
  it("a new x-fal-* header passes the preflight and reaches fal; authorization passes and stays behind", async () => {
    mock.reset();
    const answer = await fetchFromPage({
      "x-fal-target-url": RUN,
      "x-fal-request-source": "chromium-test",
      "x-fal-queue-priority": "low",
      authorization: "Bearer app-session",
    });
    expect(answer).toMatchObject({ ok: true, status: 200 });
    expect(answer.requestId).toBeTruthy();
    const seen = await mock.waitForRequest((r) => r.method === "POST" && r.path === "/fal-ai/fast-sdxl");
    expect(seen.headers["x-fal-request-source"]).toBe("chromium-test");
    expect(seen.headers["x-fal-queue-priority"]).toBe("low");
    expect(seen.headers.authorization).toBe(`Key ${mock.key}`);
  });

  it("a header outside the rule fails the preflight in the browser; nothing reaches fal", async () => {
    mock.reset();
    const answer = await fetchFromPage({ "x-fal-target-url": RUN, "x-app-secret": "1" });
    expect(answer.ok).toBe(false);
    expect(answer.error).toMatch(/TypeError/);
    expect(mock.requests.filter((r) => r.method === "POST")).toHaveLength(0);
  });
});
