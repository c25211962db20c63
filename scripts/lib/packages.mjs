// What the packaging scripts share: which packages are published, how they are built and packed, and a quiet way
// to run the tools. A package is published when it sits in packages/ and is not `private`, so a new package is
// covered without editing anything here.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

/** The repository root (this file is `scripts/lib/packages.mjs`). */
export const ROOT = resolve(import.meta.dirname, "../..");

/** The root manifest: its `engines` are every package's, its devDependencies pin the tools the checks install. */
export const ROOT_MANIFEST = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

/**
 * @typedef {{ name: string, version: string, dir: string, folder: string, manifest: Record<string, any> }} Package
 * `dir` is absolute, `folder` relative to the root (`packages/core`).
 */

/** @returns {Package[]} the public packages of packages/*, by name. */
export function publicPackages() {
  const packages = [];
  for (const entry of readdirSync(join(ROOT, "packages"), { withFileTypes: true })) {
    const dir = join(ROOT, "packages", entry.name);
    if (!entry.isDirectory() || !existsSync(join(dir, "package.json"))) continue;
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    if (manifest.private) continue;
    packages.push({
      name: manifest.name,
      version: manifest.version,
      dir,
      folder: `packages/${entry.name}`,
      manifest,
    });
  }
  return packages.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The environment the tools run in: pnpm (from .tools/), the packaging tools (scripts/package.json) and the root's
 * bins on PATH, telemetry off.
 */
export function toolEnv(extra = {}) {
  const bins = [".tools/node_modules/.bin", "scripts/node_modules/.bin", "node_modules/.bin"].map((dir) =>
    join(ROOT, dir),
  );
  return {
    ...process.env,
    PATH: [...bins, process.env.PATH].join(delimiter),
    TURBO_TELEMETRY_DISABLED: "1",
    NEXT_TELEMETRY_DISABLED: "1",
    ...extra,
  };
}

/**
 * Runs a command and collects its output. Rejects with the command and its output when it fails, unless `check`
 * is false (then the caller reads `code`).
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, check?: boolean, timeoutMs?: number }} [options]
 * @returns {Promise<{ code: number, stdout: string, stderr: string }>}
 */
export function run(command, args, options = {}) {
  const { cwd = ROOT, env = toolEnv(), check = true, timeoutMs = 300_000 } = options;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? 1, stdout, stderr };
      if (check && code !== 0) {
        const output = `${stdout}${stderr}`.trim();
        const how = signal ? `was killed (${signal})` : `exited with ${code}`;
        reject(new Error(`${command} ${args.join(" ")} ${how}${output ? `:\n${output}` : ""}`));
      } else {
        resolvePromise(result);
      }
    });
  });
}

/** Runs `task` over `items`, `limit` at a time, keeping the order of the results. */
export async function mapLimit(items, limit, task) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Builds the packages (and what they depend on) with turbo; its output is shown only for a failing task. */
export async function buildPackages(packages) {
  const filters = packages.map((pkg) => `--filter=${pkg.name}`);
  await run("turbo", ["run", "build", "--output-logs=errors-only", ...filters]);
}

/**
 * Packs each package with `pnpm pack` (which rewrites `workspace:` ranges to real versions) into `destination`.
 * @param {Package[]} packages
 * @param {string} destination
 * @returns {Promise<Array<Package & { tarball: string, files: string[], packed: Record<string, any> }>>}
 *   `files`: the paths in the tarball; `packed`: the manifest as published.
 */
export async function packPackages(packages, destination) {
  return mapLimit(packages, 2, async (pkg) => {
    const { stdout } = await run("pnpm", ["pack", "--pack-destination", destination, "--json"], {
      cwd: pkg.dir,
    });
    const { filename, files } = JSON.parse(stdout.slice(stdout.indexOf("{")));
    const packed = JSON.parse((await run("tar", ["-xzOf", filename, "package/package.json"])).stdout);
    return { ...pkg, tarball: filename, files: files.map((file) => file.path), packed };
  });
}

/** The subpaths a package exports as modules (`.`, `./binding`, ...), without `./package.json`. */
export function entryPoints(manifest) {
  const exports = manifest.exports ?? { ".": manifest.main };
  return Object.keys(exports).filter((subpath) => !subpath.endsWith(".json"));
}

/** `@falgate/hono` + `./node` → `@falgate/hono/node`. */
export function specifier(name, subpath) {
  return subpath === "." ? name : `${name}/${subpath.slice(2)}`;
}

/** Seconds since `start` (a `performance.now()` value), for the progress lines. */
export function seconds(start) {
  return `${((performance.now() - start) / 1000).toFixed(1)} s`;
}
