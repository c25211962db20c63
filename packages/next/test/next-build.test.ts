/**
 * SLOW (about a minute): builds apps/next-example with `next build` once, then runs the conformance suite and the
 * official client against `next start`, on each of the example's three routes: App Router on the Node.js runtime,
 * App Router on the Edge runtime, and the Pages Router API route.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import {
  ALLOWED_ENDPOINTS,
  buildPackages,
  conformanceOptions,
  describeConformance,
  describeFalClient,
  firstGzippedEvent,
  type HandlerUnderTest,
  REPO_ROOT,
  type StartHandler,
} from "@falgate/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const run = promisify(execFile);
const APP = join(REPO_ROOT, "apps/next-example");
const NEXT = join(APP, "node_modules/.bin/next");
const ENV = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" as const };

beforeAll(async () => {
  // The example consumes the packages the way users do, from their built `dist/`.
  await buildPackages(["core", "node", "next"]);
  await run(NEXT, ["build"], { cwd: APP, env: ENV, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
}, 360_000);

/** Starts `next start` on an ephemeral port with the suite's options given as the example app reads them. */
function nextStart(path: string): StartHandler {
  return async (options) => {
    // The example pins its endpoint allowlist in lib/falgate.ts; the suite must be asking for the same.
    expect(options.allowedEndpoints).toEqual(ALLOWED_ENDPOINTS);
    const child = spawn(NEXT, ["start", "-H", "127.0.0.1", "-p", "0"], {
      cwd: APP,
      env: {
        ...ENV,
        FAL_KEY: options.credentials,
        FALGATE_UPSTREAM: options.upstream,
        FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const origin = await readyOrigin(child);
    return { url: `${origin}${path}`, close: () => stop(child) };
  };
}

/** Resolves with the server's origin once `next start` prints it and says it is ready. */
function readyOrigin(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    let origin: string | undefined;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      origin ??= /Local:\s+(http:\/\/[^\s]+)/.exec(output)?.[1];
      if (origin && /Ready in/.test(output)) {
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(origin);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => reject(new Error(`next start exited (${code}):\n${output}`)));
    child.once("error", reject);
  });
}

/** Stops `next start`: SIGTERM, then SIGKILL if open connections keep it alive past a grace period. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Why `next start` App Router routes skip the relayed-length check. */
const NEXT_START_STREAM_LENGTH =
  "`next start` sends an App Router route handler's stream body chunked and drops the content-length set on it; " +
  "a cut answer still fails at the client (no last chunk), which the truncation checks verify";

for (const [name, path] of [
  ["App Router, Node.js runtime", "/api/fal/proxy"],
  ["App Router, Edge runtime", "/api/fal/edge"],
  ["Pages Router", "/api/fal/pages-proxy"],
] as const) {
  describeConformance({
    name: `next start: ${name}`,
    start: nextStart(path),
    skip: {
      ...(path.endsWith("/edge")
        ? {
            "early-413":
              "`next start` reads the whole request body before it calls an Edge route handler, so a body " +
              "declared larger than it is never reaches the handler; the Node.js runtime streams it",
          }
        : {}),
      ...(path.includes("pages") ? {} : { "relayed-length": NEXT_START_STREAM_LENGTH }),
    },
  });
  describeFalClient({ name: `next start: ${name}`, start: nextStart(path) });
}

describe("next start: SSE through Next's built-in compression (accept-encoding: gzip)", () => {
  // Every /stream answer lasts a minute: its first event arrives in time only if nothing holds it back.
  let slow: MockFal;
  let gate: HandlerUnderTest;
  beforeAll(async () => {
    slow = await startMockFal({ runMs: 60_000 });
    gate = await nextStart("/api/fal/pages-proxy")(conformanceOptions(slow));
  });
  afterAll(async () => {
    await gate?.close();
    await slow?.close();
  });

  test("Pages Router: the first event arrives gzipped while upstream still streams", async () => {
    const first = await firstGzippedEvent(gate.url);
    expect(first).toMatchObject({ status: 200, encoding: "gzip" });
    expect((first.event as { images: unknown[] }).images).toHaveLength(1);
    expect(slow.requests.find((r) => r.path.endsWith("/stream"))?.finishedAt).toBeUndefined();
  });
});
