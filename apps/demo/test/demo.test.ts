import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { launchChromium } from "@falgate/testkit";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/*
 * The demo end to end: `turbo run build` (workspace packages + `next build`), then `node server.mjs` in mock
 * mode, driven by Debian's Chromium. Each test walks one path of the page the way a person would.
 */

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const root = join(appDir, "..", "..");
const run = promisify(execFile);

let server: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let baseUrl: string;
/** Everything the demo server printed. */
let output = "";

/** Starts `node server.mjs` on an ephemeral port and resolves with the URL it prints. */
function startServer(): Promise<string> {
  const child = spawn(process.execPath, ["server.mjs"], {
    cwd: appDir,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", FALGATE_MOCK: "1", NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server = child;
  output = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /falgate demo ready: (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) =>
      reject(new Error(`demo server exited (${code}) before it was ready:\n${output}`)),
    );
  });
}

async function stopServer(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Waits until `selector` is an image that actually decoded (not just an `<img>` with a src). */
async function loadedImage(selector: string): Promise<string> {
  const handle = await page.waitForFunction(
    (sel) => {
      const img = document.querySelector<HTMLImageElement>(sel);
      return img?.complete && img.naturalWidth > 0 ? img.src : false;
    },
    selector,
    { timeout: 30_000 },
  );
  return (await handle.jsonValue()) as string;
}

const text = async (testId: string) => (await page.getByTestId(testId).textContent()) ?? "";

// Generous per-test time: a loaded 2-core CI box runs the mock queue (4.5 s) slower than a laptop.
describe("the demo in Chromium", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    const pnpmBin = join(root, ".tools", "node_modules", ".bin");
    await run("npx", ["turbo", "run", "build", "--filter=@falgate/demo..."], {
      cwd: root,
      env: { ...process.env, PATH: `${pnpmBin}:${process.env.PATH}`, NEXT_TELEMETRY_DISABLED: "1" },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 240_000,
    });
    baseUrl = await startServer();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(baseUrl);
  }, 300_000);

  afterAll(async () => {
    if (page && !page.isClosed()) {
      mkdirSync(join(appDir, "test-results"), { recursive: true });
      await page
        .screenshot({ path: join(appDir, "test-results", "demo.png"), fullPage: true })
        .catch(() => {});
    }
    await browser?.close();
    await stopServer();
  }, 60_000);

  it("signed out: the proxy refuses and the page says why", async () => {
    expect(await text("session-status")).toBe("Signed out");
    await expect(page.getByTestId("signed-out-banner").isVisible()).resolves.toBe(true);
    await page.getByTestId("queue-run").click();
    await page.getByTestId("queue-error").waitFor();
    const error = await text("queue-error");
    expect(error).toContain("Signed out");
    expect(error).toContain("HTTP 401");
    await page.getByTestId("rt-send-tunnel").click();
    await page.getByTestId("rt-tunnel-error").waitFor();
    expect(await text("rt-tunnel-error")).toContain("You are signed out");
    expect(await text("rt-tunnel-frames")).toBe("0");
  });

  it("a method Fetch forbids (TRACE) gets 405, not Next's 500", async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest(`${baseUrl}/api/fal/proxy`, { method: "TRACE" }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.once("error", reject);
      req.end();
    });
    expect(status).toBe(405);
  });

  it("signs in with the stub", async () => {
    await page.getByTestId("sign-in").click();
    await page.getByTestId("sign-out").waitFor();
    expect(await text("session-status")).toBe("Signed in as ada");
    expect(await page.getByTestId("signed-out-banner").count()).toBe(0);
    expect(await text("mode")).toContain("mock");
  });

  it("cancel: a queued request is cancelled", async () => {
    await page.getByTestId("queue-run").click();
    const cancel = page.getByTestId("queue-cancel");
    await page.waitForFunction(
      () => !(document.querySelector("[data-testid=queue-cancel]") as HTMLButtonElement).disabled,
    );
    await cancel.click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=queue-status]")?.textContent === "CANCELLED",
      null,
      {
        timeout: 30_000,
      },
    );
    expect(await page.getByTestId("queue-error").count()).toBe(0);
  });

  it("queue: live status and logs, then the image", async () => {
    await page.getByTestId("queue-run").click();
    await page.waitForFunction(() =>
      /IN_QUEUE|IN_PROGRESS/.test(document.querySelector("[data-testid=queue-status]")?.textContent ?? ""),
    );
    const src = await loadedImage("[data-testid=queue-image]");
    expect(src).toMatch(/\/_cdn\/images\/[0-9a-f]+\.png$/);
    expect(await text("queue-status")).toBe("COMPLETED");
    expect(await text("queue-logs")).toContain("Starting inference");
  });

  it("stream: partial results arrive, then the final image", async () => {
    await page.getByTestId("stream-run").click();
    await page.waitForFunction(
      () => (document.querySelector("[data-testid=stream-status]")?.textContent ?? "").startsWith("done"),
      null,
      {
        timeout: 30_000,
      },
    );
    const events = Number(/(\d+) events/.exec(await text("stream-status"))?.[1]);
    expect(events).toBeGreaterThanOrEqual(2);
    const src = await loadedImage("[data-testid=stream-image]");
    expect(src).toMatch(/\/_cdn\/images\/[0-9a-f]+\.png$/);
  });

  it("upload: the file goes to storage and comes back as an input", async () => {
    await page.getByTestId("upload-sample").click();
    const uploaded = await loadedImage("[data-testid=upload-source]");
    expect(uploaded).toMatch(/\/_cdn\/files\//);
    await loadedImage("[data-testid=upload-image]");
    expect(await text("upload-status")).toBe("done");
  });

  it("a refused endpoint is explained", async () => {
    await page.getByTestId("refused-run").click();
    await page.getByTestId("refused-error").waitFor();
    const error = await text("refused-error");
    expect(error).toContain("Endpoint refused by policy");
    expect(error).toContain("HTTP 403");
  });

  it("realtime: frames arrive through the tunnel and the direct-token path", async () => {
    await page.getByTestId("rt-send-tunnel").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=rt-tunnel-frames]")?.textContent === "1",
    );
    await loadedImage("[data-testid=rt-tunnel-image]");
    expect(await page.getByTestId("rt-tunnel-error").count()).toBe(0);
    expect(await text("rt-tunnel-state")).toBe("open");

    await page.getByTestId("rt-send-direct").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=rt-direct-frames]")?.textContent === "1",
    );
    await loadedImage("[data-testid=rt-direct-image]");

    // A stroke on the canvas sends one frame down each path.
    const box = (await page.getByTestId("rt-canvas").boundingBox())!;
    await page.mouse.move(box.x + 40, box.y + 40);
    await page.mouse.down();
    await page.mouse.move(box.x + 120, box.y + 90, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(
      () =>
        document.querySelector("[data-testid=rt-tunnel-frames]")?.textContent === "2" &&
        document.querySelector("[data-testid=rt-direct-frames]")?.textContent === "2",
    );
  });

  it("the server logs one line per call, and no token", async () => {
    expect(output).toMatch(/ POST +401 {2}refused unauthenticated +- +- /);
    expect(output).toMatch(/ POST +200 {2}forwarded +fal-ai\/flux\/schnell +ada /);
    expect(output).toMatch(/ POST +200 {2}token falgate +fal-ai\/fast-lcm-diffusion\S* +ada /);
    expect(output).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/); // no JWT, falgate's or fal's
  });

  it("realtime: an expired token is refused in words", async () => {
    await page.getByTestId("rt-expired").click();
    await page.getByTestId("rt-expired-error").waitFor();
    const error = await text("rt-expired-error");
    expect(error).toContain("Expired token refused by the tunnel");
    expect(error).toContain("Unauthorized: Token expired");
    await page.evaluate(() => window.scrollTo(0, 0));
  });
});
