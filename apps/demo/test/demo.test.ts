import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { launchChromium } from "@falgate/testkit";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/*
 * The demo end to end: `turbo run build` (workspace packages + `next build`), then `node server.mjs` in mock
 * mode, driven by Debian's Chromium. Each test walks one path of the page the way a person would. Screenshots of the
 * moments that matter go to a temporary folder (printed; FALGATE_DEMO_SHOTS picks another) for a person to look at.
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
/** Uncaught errors in the page, and what it logged as errors. */
const pageErrors: string[] = [];
const consoleErrors: string[] = [];
/** Every URL the page requested (HTTP and WebSocket). */
const requested: string[] = [];
/** The page's HTTP requests to falgate's mount, each one call. */
let proxyCalls = 0;
/** The demo's limits in this run (env of server.mjs). */
const RATE = 10;
const MAX_CONCURRENT = 2;
const BUDGET = 100;
/** Signs falgate's tokens in this run: it must never appear in the server's output. */
const TOKEN_SECRET = "demo-test-token-secret-0123456789abcdefghij";
const shots = process.env.FALGATE_DEMO_SHOTS ?? mkdtempSync(join(tmpdir(), "falgate-demo-shots-"));

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Starts `node server.mjs` on an ephemeral port and resolves with the URL it prints. */
function startServer(): Promise<string> {
  const child = spawn(process.execPath, ["server.mjs"], {
    cwd: appDir,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      FALGATE_MOCK: "1",
      NODE_ENV: "production",
      FALGATE_TOKEN_SECRET: TOKEN_SECRET,
      FALGATE_DEMO_RATE: `${RATE}/min`,
      FALGATE_DEMO_MAX_CONCURRENT: String(MAX_CONCURRENT),
      FALGATE_DEMO_BUDGET: `${BUDGET}/day`,
    },
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

/** Waits until the element's text matches. */
async function textMatches(testId: string, pattern: RegExp, timeout = 30_000): Promise<string> {
  const handle = await page.waitForFunction(
    ([id, source, flags]) => {
      const value = document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
      return new RegExp(source!, flags).test(value) ? value : false;
    },
    [testId, pattern.source, pattern.flags],
    { timeout },
  );
  return (await handle.jsonValue()) as string;
}

/**
 * A 32x32 thumbnail (RGB values) of the square at the centre of an image the page loads, the crop the mock draws
 * an image-to-image output over. Same origin, so the canvas stays readable.
 */
function thumbnail(src: string): Promise<number[]> {
  return page.evaluate(async (url) => {
    const image = new Image();
    image.src = url;
    await image.decode();
    const side = Math.min(image.naturalWidth, image.naturalHeight);
    const canvas = document.createElement("canvas");
    canvas.width = 32;
    canvas.height = 32;
    const ctx = canvas.getContext("2d")!;
    const [x, y] = [(image.naturalWidth - side) / 2, (image.naturalHeight - side) / 2];
    ctx.drawImage(image, x, y, side, side, 0, 0, 32, 32);
    return [...ctx.getImageData(0, 0, 32, 32).data].filter((_, i) => i % 4 !== 3);
  }, src);
}

/** Mean absolute difference of two thumbnails, 0..255. */
function difference(a: number[], b: number[]): number {
  return a.reduce((sum, value, i) => sum + Math.abs(value - b[i]!), 0) / a.length;
}

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
    page.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("request", (request) => {
      requested.push(request.url());
      if (new URL(request.url()).pathname.startsWith("/api/fal/proxy")) proxyCalls += 1;
    });
    page.on("websocket", (socket) => requested.push(socket.url()));
    console.log(`demo screenshots: ${shots}`);
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
    expect(await text("meter")).toContain("Sign in to see your limits");
  });

  it("signed out: a stream shows the refusal in red, and nothing is left uncaught", async () => {
    await page.getByTestId("stream-run").click();
    await page.getByTestId("stream-error").waitFor();
    expect(await text("stream-error")).toContain("You are signed out");
    const badge = page.getByTestId("stream-status");
    expect(await badge.textContent()).toBe("signed out: sign in to call fal");
    expect(await badge.getAttribute("class")).toContain("bad");
    // An unhandled rejection would surface a moment after the refusal.
    await page.waitForTimeout(500);
    await shot("01-signed-out-stream");
    expect(pageErrors).toEqual([]);
    // Chromium logs the refused call itself ("Failed to load resource: ... 401"); nothing else may be logged.
    expect(consoleErrors.filter((line) => !/^Failed to load resource: .* 401 /.test(line))).toEqual([]);
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

  it("the meter shows the limits: requests left, calls in flight, spend", async () => {
    expect(await textMatches("meter-rate-value", /of 10 left$/)).toBe(`${RATE} of ${RATE} left`);
    expect(await text("meter-rate")).toContain("Requests this minute");
    expect(await text("meter-slots-value")).toBe(`0 of ${MAX_CONCURRENT} at once`);
    expect(await text("meter-budget-value")).toBe(`0 of ${BUDGET} units`);
    expect(await text("meter-budget-note")).toMatch(/resets at .+, in \d+ h/);
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

  it("queue: live status and logs, then the image; the meter follows the call", async () => {
    await page.getByTestId("queue-run").click();
    await page.waitForFunction(() =>
      /IN_QUEUE|IN_PROGRESS/.test(document.querySelector("[data-testid=queue-status]")?.textContent ?? ""),
    );
    // The submit's RateLimit headers move the meter at once: a call in flight (its slot is held until the job
    // ends), fewer requests left.
    await textMatches("meter-slots-value", new RegExp(`^1 of ${MAX_CONCURRENT} at once$`), 5_000);
    expect(Number(/^(\d+) of/.exec(await text("meter-rate-value"))![1])).toBeLessThan(RATE);
    await shot("02-meter-in-flight");
    const src = await loadedImage("[data-testid=queue-image]");
    expect(src).toMatch(/\/_cdn\/images\/[0-9a-f]+\.png$/);
    expect(await text("queue-status")).toBe("COMPLETED");
    expect(await text("queue-logs")).toContain("Starting inference");
    // Once the job is over, the usage route is read again: the slot is free and the image was charged.
    await textMatches("meter-slots-value", new RegExp(`^0 of ${MAX_CONCURRENT} at once$`), 5_000);
    expect(
      Number(/^(\d+) of/.exec(await textMatches("meter-budget-value", /^[1-9]\d* of/, 5_000))![1]),
    ).toBeGreaterThan(0);
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

  it("upload: the file goes to storage and comes back as an input; the result depends on it", async () => {
    await page.getByTestId("upload-sample").click();
    const uploaded = await loadedImage("[data-testid=upload-source]");
    expect(uploaded).toMatch(/\/_cdn\/files\//);
    const first = await loadedImage("[data-testid=upload-image]");
    expect(await text("upload-status")).toBe("done");
    expect(first).toMatch(/\/_cdn\/images\/[0-9a-f]{24}-[0-9a-f]{24}\.png$/);
    await shot("03-image-to-image-sample");

    // A second, different picture (red and green squares), chosen through the file input.
    const dataUrl = await page.evaluate(() => {
      const canvas = document.createElement("canvas");
      canvas.width = 160;
      canvas.height = 120;
      const ctx = canvas.getContext("2d")!;
      for (let y = 0; y < 120; y += 40) {
        for (let x = 0; x < 160; x += 40) {
          ctx.fillStyle = (x + y) % 80 === 0 ? "#dc2626" : "#16a34a";
          ctx.fillRect(x, y, 40, 40);
        }
      }
      return canvas.toDataURL("image/png");
    });
    await page.getByTestId("upload-input").setInputFiles({
      name: "squares.png",
      mimeType: "image/png",
      buffer: Buffer.from(dataUrl.split(",")[1]!, "base64"),
    });
    await textMatches("upload-status", /^done$/);
    const second = await loadedImage("[data-testid=upload-image]");
    expect(second).not.toBe(first);
    await shot("04-image-to-image-squares");
    // Each result looks like its own upload more than like the other one, and the two results differ.
    const secondUpload = await loadedImage("[data-testid=upload-source]");
    const [inA, outA, inB, outB] = await Promise.all([uploaded, first, secondUpload, second].map(thumbnail));
    expect(difference(outA!, outB!)).toBeGreaterThan(25);
    expect(difference(outA!, inA!)).toBeLessThan(difference(outA!, inB!));
    expect(difference(outB!, inB!)).toBeLessThan(difference(outB!, inA!));
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
    await page.getByTestId("rt-canvas").scrollIntoViewIfNeeded();
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

  it("hitting the rate limit: the card says what happened and when to retry, at once", async () => {
    // Spend what is left of the window with streams, until falgate refuses one.
    let refused = false;
    for (let i = 0; i <= RATE && !refused; i++) {
      const answer = page.waitForResponse(
        (r) => new URL(r.url()).pathname === "/api/fal/proxy" && r.request().method() === "POST",
      );
      await page.getByTestId("stream-run").click();
      refused = (await answer).status() === 429;
      await textMatches("stream-status", refused ? /^rate limited/ : /^done/);
    }
    expect(refused).toBe(true);
    expect(await text("stream-error")).toContain("Rate limit reached");
    // The queue card too, where the official client would retry a 429 three times (about 7 s) on its own.
    const clicked = Date.now();
    await page.getByTestId("queue-run").click();
    await page.getByTestId("queue-error").waitFor({ timeout: 5_000 });
    expect(Date.now() - clicked).toBeLessThan(2_000);
    const error = await text("queue-error");
    expect(error).toContain("Rate limit reached");
    expect(error).toContain(`at most ${RATE} requests per minute`);
    expect(error).toMatch(/Try again at \S+.*, in \d+ s\./);
    expect(await text("queue-status")).toMatch(/^rate limited: retry at /);
    expect(await page.getByTestId("queue-status").getAttribute("class")).toContain("bad");
    expect(await text("meter-rate-value")).toBe(`0 of ${RATE} left`);
    expect(await text("meter-rate-note")).toMatch(/next one fits in \d+ s/);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot("05-rate-limited");
    // One refusal in the server's log for that click: the page did not retry it (the client's first retry would
    // come after about a second).
    await page.waitForTimeout(1_500);
    const refusals = output
      .split("\n")
      .filter((line) => / POST +429 {2}refused rate_limited +fal-ai\/flux\/schnell /.test(line));
    expect(refusals).toHaveLength(1);
  });

  it("everything the page loads comes from its own origin (images, uploads, the direct realtime path)", async () => {
    const origin = new URL(baseUrl);
    const foreign = requested.filter((url) => {
      if (url.startsWith("data:") || url.startsWith("blob:")) return false;
      return new URL(url).host !== origin.host;
    });
    expect(foreign).toEqual([]);
    const images = await page.$$eval("img", (all) => all.map((img) => img.src));
    expect(images.length).toBeGreaterThanOrEqual(4);
    for (const src of images) {
      expect(src.startsWith(`${baseUrl}/`) || src.startsWith("data:image/"), src).toBe(true);
    }
    expect(requested.some((url) => url.startsWith(`ws://${origin.host}/_mock-fal/`))).toBe(true);
    expect(pageErrors).toEqual([]);
    // Chromium logs each call answered 4xx ("Failed to load resource": signed out 401, refused endpoint 403, rate
    // limit 429, a cancelled job's result 400); nothing else may be logged as an error.
    expect(
      consoleErrors.filter((line) => !/^Failed to load resource: .* status of 4\d\d /.test(line)),
    ).toEqual([]);
  });

  it("the server logs one line per call, and no secret", async () => {
    // Lines are written when each answer ends; give the last ones a moment.
    const httpLines = () =>
      output
        .split("\n")
        .filter(
          (line) =>
            /^\d\d:\d\d:\d\d\.\d{3} (INFO|WARN|ERROR) +[A-Z]+ +\d{3} {2}/.test(line) && !/ WS /.test(line),
        );
    const deadline = Date.now() + 5_000;
    while (httpLines().length < proxyCalls && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(httpLines().length).toBe(proxyCalls);
    // Decision, endpoint, principal, duration, bytes, in columns.
    expect(output).toMatch(/ POST +401 {2}refused unauthenticated +- +- +[\d.]+m?s {2}in \d+B {2}out \d+B/);
    expect(output).toMatch(
      / POST +200 {2}forwarded +fal-ai\/flux\/schnell +ada +[\d.]+m?s {2}in \d+B {2}out \d+B/,
    );
    expect(output).toMatch(/ POST +200 {2}token falgate +fal-ai\/fast-lcm-diffusion\S* +ada /);
    expect(output).toMatch(/ POST +429 {2}refused rate_limited +fal-ai\/flux\/\w+ +ada /);
    expect(output).toMatch(/ GET +200 {2}usage +- +ada /);
    expect(output).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/); // no JWT, falgate's or fal's
    for (const secret of ["mock-key-secret", "mock-key-id", TOKEN_SECRET, "falgate_demo_user"]) {
      expect(output).not.toContain(secret);
    }
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
