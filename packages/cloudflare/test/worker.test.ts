import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { startMockFal } from "@falgate/mock-fal";
import {
  buildPackages,
  conformanceOptions,
  describeConformance,
  describeFalClient,
  falClientThrough,
  SAME_ORIGIN,
  type StartHandler,
  send,
} from "@falgate/testkit";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const run = promisify(execFile);
const ROOT = resolve(__dirname, "../../..");
const APP = join(ROOT, "apps/worker");
// The same as apps/worker/wrangler.toml.
const COMPATIBILITY_DATE = "2026-04-01";
const COMPATIBILITY_FLAGS = ["enable_request_signal"];

/** Bundles the Worker app from TypeScript sources (workspace packages resolved to `src/`), as workerd will load it. */
async function bundleFromSources(): Promise<string> {
  const result = await build({
    entryPoints: [join(APP, "src/index.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["falgate-source", "workerd", "worker", "browser", "import"],
    mainFields: ["module", "main"],
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

/** Runs a bundled Worker in real workerd with the bindings `wrangler.toml` and `wrangler secret` would give it. */
function workerStarter(script: () => Promise<string>): StartHandler {
  return async (options) => {
    const mf = new Miniflare({
      modules: true,
      script: await script(),
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: COMPATIBILITY_FLAGS,
      cf: false,
      handleRuntimeStdio: quiet,
      bindings: {
        FAL_KEY: options.credentials,
        FALGATE_UPSTREAM: options.upstream,
        FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
        FALGATE_ALLOWED_ENDPOINTS: options.allowedEndpoints.join(","),
      },
    });
    const origin = await mf.ready;
    return { url: new URL("/api/fal/proxy", origin).href, close: () => mf.dispose() };
  };
}

/** Drops the Worker's console output (falgate's start-up warnings) unless FALGATE_TEST_DEBUG is set. */
function quiet(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream): void {
  if (process.env.FALGATE_TEST_DEBUG) {
    stdout.pipe(process.stdout);
    stderr.pipe(process.stderr);
  } else {
    stdout.resume();
    stderr.resume();
  }
}

let sourceBundle: Promise<string> | undefined;
/** The source bundle, built once per test file. */
function sourceScript(): Promise<string> {
  sourceBundle ??= bundleFromSources();
  return sourceBundle;
}
const fromSources = workerStarter(sourceScript);

describeConformance({
  name: "Cloudflare Worker in workerd",
  start: fromSources,
  unreachableCode: "upstream_error",
  skip: {
    abort:
      "workerd run locally notices a client disconnect only when it next writes to that client, and nothing is " +
      "written while waiting for upstream headers (on Cloudflare the edge cancels the invocation and its " +
      "subrequests); the long-stream check covers disconnects once the answer streams",
  },
});
describeFalClient({ name: "Cloudflare Worker in workerd", start: fromSources });

test("a request without FAL_KEY bound answers missing_credentials, not `Key undefined`", async () => {
  const mock = await startMockFal();
  const mf = new Miniflare({
    modules: true,
    script: await sourceScript(),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    cf: false,
    handleRuntimeStdio: quiet,
    bindings: { FALGATE_UPSTREAM: mock.url },
  });
  try {
    const response = await mf.dispatchFetch("http://proxy.test/api/fal/proxy", {
      method: "POST",
      headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
      body: "{}",
    });
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("missing_credentials");
    expect(mock.requests).toHaveLength(0);
  } finally {
    await mf.dispose();
    await mock.close();
  }
});

describe("the bundle `wrangler deploy` would upload", () => {
  let outdir: string;
  let script: string;

  beforeAll(async () => {
    await buildPackages(["core", "cloudflare"]);
    outdir = await mkdtemp(join(tmpdir(), "falgate-wrangler-"));
    await run(join(APP, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outdir], {
      cwd: APP,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1" },
      timeout: 120_000,
    });
    script = await readFile(join(outdir, "index.js"), "utf8");
  }, 180_000);
  afterAll(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  test("has no Node built-ins and no leftover source-only imports", () => {
    expect(script).not.toMatch(/from\s*["']node:/);
    expect(script).not.toMatch(/\bimport\s*\(?\s*["']@falgate\//);
    expect(script).toContain("x-fal-target-url");
  });

  test("runs in workerd and proxies the official client's calls", async () => {
    const mock = await startMockFal({ runMs: 100 });
    const gate = await workerStarter(async () => script)(conformanceOptions(mock));
    try {
      const refused = await send(gate.url, {
        method: "POST",
        headers: { "x-fal-target-url": "https://fal.run/fal-ai/echo" },
      });
      expect(refused.status).toBe(401);
      const fal = falClientThrough(gate.url);
      const { data } = await fal.run("fal-ai/fast-sdxl", { input: { prompt: "from the deployed bundle" } });
      expect((data as { prompt: string }).prompt).toBe("from the deployed bundle");
      expect((await mock.waitForRequest((r) => r.method === "POST")).headers.authorization).toBe(
        `Key ${mock.key}`,
      );
    } finally {
      await gate.close();
      await mock.close();
    }
  });
});
