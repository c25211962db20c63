// A throwaway redis-server for the "limits in Redis" row (free loopback port, no persistence, on the load
// cores). The round trips that row is judged by are timed from the proxy core by bench/procs/redis-probe.mjs.
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";
import Redis from "ioredis";

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

/** redis-server, installed with apt-get when missing and we are root (as scripts/system-deps.sh does). */
function ensureRedisServer(log) {
  const found = () => {
    try {
      execFileSync("redis-server", ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (found()) return;
  if (process.getuid?.() === 0) {
    log?.("redis-server is missing: apt-get install redis-server…");
    try {
      execFileSync(
        "sh",
        ["-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server"],
        { stdio: "ignore", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } },
      );
    } catch {
      // Reported below.
    }
    if (found()) return;
  }
  throw new Error("the Redis rows need redis-server: sudo apt-get install redis-server");
}

/** Starts redis-server on a free port with `prefix` (the load cores); resolves once it answers PING. */
export async function startRedis({ prefix = [], log } = {}) {
  ensureRedisServer(log);
  const port = await freePort();
  const argv = [
    ...prefix,
    "redis-server",
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
  ];
  const child = spawn(argv[0], argv.slice(1), { stdio: "ignore" });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    // Refused until redis-server listens: connect() rejects with it; the event would only be printed again.
    probe.on("error", () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch (error) {
      probe.disconnect();
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`redis-server did not start on port ${port}: ${error?.message ?? error}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
