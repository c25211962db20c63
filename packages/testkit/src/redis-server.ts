import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A throwaway `redis-server` on a unix socket in a temp dir (no port to race for), killed by `close()`. */
export interface TestRedis {
  socket: string;
  /** Freezes the server (SIGSTOP), as in a long stall: connections stay open, nothing is answered. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
  /** Kills the server (SIGKILL, as in a crash): connections drop, data is gone (no persistence). */
  stop(): Promise<void>;
  /** Starts a stopped server again on the same socket; resolves once it accepts connections. */
  start(): Promise<void>;
  close(): Promise<void>;
}

const INSTALL_HINT =
  "redis-server is not installed; these tests need a real Redis >= 6.2. Install it with: apt-get install -y redis-server";

/** Starts `redis-server` and resolves once it accepts connections. */
export async function startRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), "falgate-redis-"));
  const socket = join(dir, "redis.sock");
  const args = [
    "--port",
    "0",
    "--unixsocket",
    socket,
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
  ];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const spawnServer = async () => {
    const started = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    exited = new Promise<void>((resolve) => started.once("exit", () => resolve()));
    try {
      await ready(started);
    } catch (error) {
      started.kill("SIGKILL");
      throw error;
    }
  };
  const kill = async () => {
    const running = child;
    if (running && running.exitCode === null && running.signalCode === null) {
      running.kill("SIGCONT");
      running.kill("SIGKILL");
    }
    await exited;
    child = null;
  };
  try {
    await spawnServer();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    socket,
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
    stop: kill,
    async start() {
      if (child) return;
      await spawnServer();
    },
    async close() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    // A safety net, not synchronisation: the readiness line is the event we wait for.
    const timer = setTimeout(() => reject(new Error(`redis-server did not become ready:\n${out}`)), 20_000);
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === "ENOENT" ? new Error(INSTALL_HINT) : error);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code} before it was ready:\n${out}`));
    });
    const onData = (chunk: Buffer) => {
      out += chunk.toString("utf8");
      if (/ready to accept connections/i.test(out)) {
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        child.stderr?.resume();
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
  });
}
