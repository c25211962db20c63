// The Next rows' app (bench/next-app): a production build made at bench time, served by `next start` in its
// own process per row. It has three mounts, one per row; each row's process is only sent calls on its own:
//   app    /api/fal/proxy  App Router route handlers of falgate (`falgate-next`, bench/procs/falgate.mjs)
//   pages  /api/fal/pages  a Pages Router API route of falgate (`falgate-next-pages`, bench/procs/falgate.mjs)
//   bare   /api/bare       an App Router fetch pass-through without falgate (`next-bare`, bench/procs/next-bare.mjs)
// The routes load what they serve at run time from the row's module (FALGATE_BENCH_MODULE), so the build only
// depends on the app's own files and is reused while they and Next's version are unchanged.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { procResetPeak, procStats } from "./cpu.mjs";

const APP_DIR = fileURLToPath(new URL("../next-app/", import.meta.url));
const require = createRequire(import.meta.url);
const NEXT_BIN = require.resolve("next/dist/bin/next");
const NEXT_VERSION = require("next/package.json").version;
const STAMP = join(APP_DIR, ".next", "falgate-bench-stamp");
const ENV = { NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" };

/** Where each route of the app is mounted. */
export const NEXT_MOUNTS = { app: "/api/fal/proxy", pages: "/api/fal/pages", bare: "/api/bare" };

/** Hash of the app's sources and Next's version: the build is redone when it changes. */
function sourceHash() {
  const hash = createHash("sha256").update(NEXT_VERSION);
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      if (name === ".next" || name === "node_modules") continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(path).update(readFileSync(path));
    }
  };
  walk(APP_DIR);
  return hash.digest("hex");
}

/** Runs `next build` unless the last build is of the same sources; resolves with whether it built. */
export async function buildNextApp(log) {
  const hash = sourceHash();
  if (existsSync(STAMP) && readFileSync(STAMP, "utf8") === hash) return false;
  log?.(`next build (Next ${NEXT_VERSION}, bench/next-app)…`);
  let output = "";
  const child = spawn(process.execPath, [NEXT_BIN, "build"], {
    cwd: APP_DIR,
    env: { ...process.env, ...ENV },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`next build failed (exit ${code}):\n${output.slice(-4000)}`);
  writeFileSync(STAMP, hash);
  return true;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `next start` on a free loopback port (inheriting this process's cores) with the row's module (the
 * file URL its route imports) and config in its environment, and reports that process's CPU and memory from
 * /proc; `info.url` is the mount of `route` (a key of {@link NEXT_MOUNTS}). `config.nodeArgs` are Node flags
 * for the Next process (e.g. `--cpu-prof`).
 */
export async function startNextApp({ module, route, config }) {
  if (!existsSync(STAMP))
    throw new Error("the Next app is not built (run.mjs builds it before the rows start)");
  const mount = NEXT_MOUNTS[route];
  if (!mount) throw new Error(`unknown Next route ${JSON.stringify(route)} (${Object.keys(NEXT_MOUNTS)})`);
  const port = await freePort();
  const { nodeArgs = [], ...falgateConfig } = config;
  const child = spawn(
    process.execPath,
    [...nodeArgs, NEXT_BIN, "start", "--port", String(port), "--hostname", "127.0.0.1"],
    {
      cwd: APP_DIR,
      env: {
        ...process.env,
        ...ENV,
        FALGATE_BENCH_MODULE: module,
        FALGATE_BENCH_CONFIG: JSON.stringify({ ...falgateConfig, mount }),
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const ready = new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`next start: not ready after 60 s:\n${seen}`)), 60_000);
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      if (/Ready in/.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`next start exited (${code}):\n${seen}`));
    });
  });
  try {
    await ready;
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  child.stdout.resume();
  return {
    info: { url: `http://127.0.0.1:${port}${mount}`, pid: child.pid },
    stats: () => procStats(child.pid),
    resetPeak: () => procResetPeak(child.pid),
    close: async () => {
      if (child.exitCode !== null) return;
      // Next exits normally on SIGTERM, so a `--cpu-prof` profile is written.
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
