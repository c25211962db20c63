import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The repository root (this file is `packages/testkit/src/build.ts`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * Builds workspace packages (`tsc -p tsconfig.build.json`, in the given order) for tests that consume `dist/`
 * the way users do (`next build`, `wrangler deploy`). A file lock serialises builds across test workers, so
 * no test reads a `dist/` another worker is rewriting.
 */
export async function buildPackages(names: readonly string[]): Promise<void> {
  const tsc = join(REPO_ROOT, "node_modules/.bin/tsc");
  const lock = existsSync("/usr/bin/flock") ? "/usr/bin/flock" : undefined;
  for (const name of names) {
    const project = join(REPO_ROOT, "packages", name, "tsconfig.build.json");
    const [file, args] = lock
      ? [lock, ["/tmp/falgate-build.lock", tsc, "-p", project]]
      : [tsc, ["-p", project]];
    try {
      await run(file, args, { cwd: REPO_ROOT, timeout: 120_000 });
    } catch (error) {
      // tsc exits 2 when it reported type errors but still wrote every output: those errors are the build's and
      // typecheck's to report; what these tests need is current JavaScript in dist/.
      const { code, stdout } = error as { code?: unknown; stdout?: string };
      if (code === 2) continue;
      throw new Error(
        `building packages/${name} failed (${String(code)}):\n${(stdout ?? "").slice(0, 4000)}`,
      );
    }
  }
}
