/**
 * falgate's core under the real Deno runtime (the `deno` npm package): apps/deno-example/main.ts, `Deno.serve` with
 * `falgate.handle`, the packages resolved from the workspace's node_modules (no network: `--cached-only`), started
 * as a child process and run through the conformance suite and the official client.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildPackages, describeConformance, describeFalClient } from "@falgate/testkit";
import { beforeAll, expect, test } from "vitest";
import { BIN, exampleStarter } from "./runtimes.js";

const DENO = join(BIN, "deno");
const run = promisify(execFile);
const start = exampleStarter("Deno", DENO, ["run", "--cached-only", "--allow-net", "--allow-env", "main.ts"]);

beforeAll(async () => {
  // The example imports @falgate/core the way users do, from its built `dist/`.
  await buildPackages(["core"]);
}, 120_000);

test("the runtime is the real Deno", async () => {
  const { stdout } = await run(DENO, ["--version"]);
  expect(stdout).toMatch(/^deno 2\.\d+\.\d+/);
});

// A refused connection is `upstream_unreachable` here too: the core reads Deno's "client error (Connect)".
describeConformance({ name: "Deno.serve", start });
describeFalClient({ name: "Deno.serve", start });
