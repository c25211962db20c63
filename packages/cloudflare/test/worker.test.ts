import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import {
  buildPackages,
  bundleWorker,
  conformanceOptions,
  describeConformance,
  describeFalClient,
  falClientThrough,
  open,
  openSocket,
  REPO_ROOT,
  readAll,
  SAME_ORIGIN,
  type StartHandler,
  send,
  startCuttingUpstream,
  startWorker,
  WORKERD_ABORT_SKIP,
  WORKERD_TRUNCATION_SKIP,
} from "@falgate/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const run = promisify(execFile);
const APP = join(REPO_ROOT, "apps/worker");

/** Runs a bundled Worker with the bindings `wrangler.toml` and `wrangler secret put` would give it. */
function workerStarter(
  script: () => Promise<string>,
  extraBindings: Record<string, string> = {},
): StartHandler {
  return async (options) => {
    const worker = await startWorker(await script(), {
      FAL_KEY: options.credentials,
      FALGATE_UPSTREAM: options.upstream,
      FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
      FALGATE_ALLOWED_ENDPOINTS: options.allowedEndpoints.join(","),
      ...extraBindings,
    });
    return { url: `${worker.origin}/api/fal/proxy`, close: worker.close };
  };
}

let sourceBundle: Promise<string> | undefined;
/** apps/worker bundled from sources, once per test file. */
function sourceScript(): Promise<string> {
  sourceBundle ??= bundleWorker(join(APP, "src/index.ts"));
  return sourceBundle;
}
const fromSources = workerStarter(sourceScript);

describeConformance({
  name: "Cloudflare Worker in workerd",
  start: fromSources,
  unreachableCode: "upstream_error",
  skip: { abort: WORKERD_ABORT_SKIP, "truncated-chunked": WORKERD_TRUNCATION_SKIP },
});
describeFalClient({ name: "Cloudflare Worker in workerd", start: fromSources });

describe("an SSE answer fal cuts short, in workerd", () => {
  // workerd ends the chunked answer cleanly whatever the Worker does (WORKERD_TRUNCATION_SKIP), so the cut must at
  // least be visible to the operator: the same log line and call outcome as on Node (`upstream_error`).
  async function cutStream(
    script: string,
  ): Promise<{ output: () => string; origin: string; close(): Promise<void> }> {
    const upstream = await startCuttingUpstream();
    let output = "";
    const worker = await startWorker(
      script,
      { FAL_KEY: "key-id:key-secret", FALGATE_UPSTREAM: upstream.url },
      {
        onOutput: (text) => {
          output += text;
        },
      },
    );
    const response = await open(`${worker.origin}/api/fal/proxy`, {
      method: "POST",
      headers: {
        ...SAME_ORIGIN,
        "x-fal-target-url": "https://fal.run/fal-ai/cut/sse",
        "content-type": "application/json",
      },
      body: "{}",
    });
    expect(response.message.statusCode).toBe(200);
    await readAll(response.message).catch(() => undefined);
    response.close();
    return {
      output: () => output,
      origin: worker.origin,
      close: async () => {
        await worker.close();
        await upstream.close();
      },
    };
  }

  test("apps/worker logs the truncation with its code", async () => {
    const run = await cutStream(await sourceScript());
    try {
      await expect.poll(run.output, { timeout: 5000 }).toContain("upstream body ended with an error");
      expect(run.output()).toContain("upstream_error");
      expect(run.output()).not.toContain("key-secret");
    } finally {
      await run.close();
    }
  });

  test("the call ends with error `upstream_error` (what metrics count as falgate_calls_total{code})", async () => {
    const run = await cutStream(await bundleWorker(join(__dirname, "fixtures/truncation-worker.ts")));
    try {
      const ends = async () => (await send(`${run.origin}/ends`)).json<Array<{ error: string | null }>>();
      await expect
        .poll(ends, { timeout: 5000 })
        .toEqual([expect.objectContaining({ error: "upstream_error" })]);
    } finally {
      await run.close();
    }
  });
});

test("a request without FAL_KEY bound answers missing_credentials, not `Key undefined`", async () => {
  const mock = await startMockFal();
  const worker = await startWorker(await sourceScript(), { FALGATE_UPSTREAM: mock.url });
  try {
    const response = await worker.miniflare.dispatchFetch("http://proxy.test/api/fal/proxy", {
      method: "POST",
      headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
      body: "{}",
    });
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("missing_credentials");
    expect(mock.requests).toHaveLength(0);
  } finally {
    await worker.close();
    await mock.close();
  }
});

test("routed on the app's own domain: FALGATE_ALLOWED_HOSTS names it, other host names are refused (DNS rebinding)", async () => {
  const mock = await startMockFal();
  const worker = await startWorker(await sourceScript(), {
    FAL_KEY: mock.key,
    FALGATE_UPSTREAM: mock.url,
    FALGATE_ALLOWED_HOSTS: "app.example.net",
  });
  try {
    const call = (host: string) =>
      send(`${worker.origin}/api/fal/proxy`, {
        method: "POST",
        headers: {
          ...SAME_ORIGIN,
          host,
          origin: `https://${host}`,
          "content-type": "application/json",
          "x-fal-target-url": "https://fal.run/fal-ai/echo",
        },
        body: "{}",
      });
    expect((await call("app.example.net")).status).toBe(200);
    const refused = await call("rebind.attacker.example");
    expect(refused.status).toBe(403);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe("host_not_allowed");
    expect(mock.requests).toHaveLength(1);
  } finally {
    await worker.close();
    await mock.close();
  }
});

test("the same Worker serves the realtime tunnel: token from the token route, frames relayed through workerd", async () => {
  const mock = await startMockFal();
  const secret = randomBytes(32).toString("base64");
  const gate = await workerStarter(sourceScript, { FALGATE_TOKEN_SECRET: secret })(conformanceOptions(mock));
  try {
    const minted = await send(`${gate.url}/token`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "content-type": "application/json" },
      body: JSON.stringify({ app: "fal-ai/echo", type: "falgate" }),
    });
    expect(minted.status).toBe(200);
    const token = minted.json<string>();
    const url = new URL(`${gate.url}/fal-ai/echo/realtime`);
    url.protocol = "ws:";
    url.searchParams.set("fal_jwt_token", token);
    const ws = await openSocket(url.href);
    try {
      ws.socket.send(Buffer.from([1, 2, 3, 255]));
      const frame = await ws.next();
      expect(frame.binary).toBe(true);
      expect([...frame.data]).toEqual([1, 2, 3, 255]);
    } finally {
      ws.close();
      await ws.closed;
    }
    const upstream = await mock.waitForRequest((r) => r.websocket);
    expect(upstream.headers.authorization).toBe(`Key ${mock.key}`);
    expect(upstream.search).not.toContain(token);
  } finally {
    await gate.close();
    await mock.close();
  }
});

describe("the tunnel's connectTimeout (500 ms here) bounds the upgrade to fal, not the tunnel", () => {
  const CONNECT_TIMEOUT = 500;
  let script: Promise<string> | undefined;

  /** A Worker whose tunnel has a short connectTimeout, a minted token and the tunnel URL for fal-ai/echo. */
  async function tunnelTo(mock: MockFal): Promise<{ url: string; close(): Promise<void> }> {
    script ??= bundleWorker(join(__dirname, "fixtures/tunnel-worker.ts"));
    const worker = await startWorker(await script, {
      FAL_KEY: mock.key,
      FALGATE_UPSTREAM: mock.url,
      FALGATE_TOKEN_SECRET: randomBytes(32).toString("base64"),
      CONNECT_TIMEOUT: String(CONNECT_TIMEOUT),
    });
    const minted = await send(`${worker.origin}/api/fal/proxy/token`, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "content-type": "application/json" },
      body: JSON.stringify({ app: "fal-ai/echo", type: "falgate" }),
    });
    expect(minted.status).toBe(200);
    const url = new URL(`${worker.origin}/api/fal/proxy/fal-ai/echo/realtime`);
    url.protocol = "ws:";
    url.searchParams.set("fal_jwt_token", minted.json<string>());
    return { url: url.href, close: worker.close };
  }

  test("an open tunnel still relays frames well after connectTimeout", async () => {
    const mock = await startMockFal();
    const gate = await tunnelTo(mock);
    try {
      const ws = await openSocket(gate.url);
      try {
        ws.socket.send(Buffer.from([1]));
        expect([...(await ws.next()).data]).toEqual([1]);
        await sleep(CONNECT_TIMEOUT * 3);
        ws.socket.send(Buffer.from([2]));
        expect([...(await ws.next()).data]).toEqual([2]);
      } finally {
        ws.close();
      }
      expect((await ws.closed).code).toBe(1000);
    } finally {
      await gate.close();
      await mock.close();
    }
  });

  test("an upgrade fal does not answer within connectTimeout is given up", async () => {
    const mock = await startMockFal();
    mock.fault({ kind: "delay", delayMs: CONNECT_TIMEOUT * 4, path: /\/realtime$/ });
    const gate = await tunnelTo(mock);
    try {
      const startedAt = Date.now();
      const ws = await openSocket(gate.url);
      expect(await ws.closed).toEqual({ code: 1014, reason: "fal did not answer in time" });
      expect(Date.now() - startedAt).toBeLessThan(CONNECT_TIMEOUT * 3);
    } finally {
      await gate.close();
      await mock.close();
    }
  });
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
