/**
 * falgate's core under the real Bun runtime (the `bun` npm package): apps/bun-example/server.ts, `Bun.serve` with
 * `falgate.handle`, started as a child process and run through the conformance suite and the official client.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { startMockFal } from "@falgate/mock-fal";
import {
  buildPackages,
  conformanceOptions,
  describeConformance,
  describeFalClient,
  REPO_ROOT,
  SAME_ORIGIN,
  send,
} from "@falgate/testkit";
import { beforeAll, expect, test } from "vitest";
import { BIN, exampleStarter } from "./runtimes.js";

const BUN = join(BIN, "bun");
const run = promisify(execFile);
const start = exampleStarter("Bun", BUN, ["server.ts"]);

beforeAll(async () => {
  // The example imports @falgate/core the way users do, from its built `dist/`.
  await buildPackages(["core"]);
}, 120_000);

test("the runtime is the real Bun, and the example type-checks with Bun's types", async () => {
  const { stdout } = await run(BUN, ["--version"]);
  expect(stdout.trim()).toMatch(/^1\.\d+\.\d+$/);
  await run(join(REPO_ROOT, "node_modules/.bin/tsc"), [
    "-p",
    join(REPO_ROOT, "apps/bun-example/tsconfig.json"),
  ]);
}, 60_000);

describeConformance({
  name: "Bun.serve",
  start,
  skip: {
    "early-answer-body":
      "Bun's fetch stops sending a streamed request body once the server has answered: an upstream that answers " +
      "before reading (mock-fal's 405 for DELETE/PATCH) may get none of it. The answer itself comes back intact",
    "relayed-length":
      "Bun.serve sends every stream body chunked and drops a content-length set on it; a cut answer still fails at " +
      "the client (no last chunk), which the truncation checks verify",
  },
});
describeFalClient({ name: "Bun.serve", start });

test("a fal call that answers after Bun's 10 s idle timeout still comes back", async () => {
  const mock = await startMockFal();
  const gate = await start(conformanceOptions(mock));
  try {
    mock.fault({ kind: "delay", delayMs: 12_000, path: /^\/fal-ai\/fast-sdxl$/ });
    const a = await send(gate.url, {
      method: "POST",
      headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl" },
      body: JSON.stringify({ prompt: "slow" }),
    });
    expect(a.status).toBe(200);
    expect(a.json<{ images: unknown[] }>().images).toHaveLength(1);
  } finally {
    await gate.close();
    await mock.close();
  }
}, 30_000);
