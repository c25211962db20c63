import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

/** A server running in a child process (a production build, another runtime). */
export interface ChildServer {
  /** `http://127.0.0.1:<port>`, from the line the server printed when ready. */
  origin: string;
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if open connections keep it alive past a grace period. */
  close(): Promise<void>;
}

/** How to start a {@link ChildServer}. */
export interface ChildServerOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Matches the ready line; group 1 is the port the server listens on (on 127.0.0.1). */
  ready: RegExp;
  /** @default 60_000 */
  timeoutMs?: number;
}

/**
 * Starts a server process and resolves once it prints its ready line. The process is killed if the test process
 * exits first, so a failed run leaves no server behind.
 */
export function startChildServer(
  command: string,
  args: readonly string[],
  options: ChildServerOptions,
): Promise<ChildServer> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so stopping it also stops what a wrapper script (`node_modules/.bin/bun` is a shell
    // script that does not `exec`) started under it.
    detached: true,
  });
  const reap = () => signalGroup(child, "SIGKILL");
  process.once("exit", reap);
  child.once("exit", () => process.off("exit", reap));
  let output = "";
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const server: Omit<ChildServer, "origin"> = { child, output: () => output, close: () => stop(child) };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop(child);
      reject(new Error(`${command} was not ready within ${options.timeoutMs ?? 60_000} ms:\n${output}`));
    }, options.timeoutMs ?? 60_000);
    const onData = () => {
      const port = options.ready.exec(output)?.[1];
      if (port === undefined) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      resolve({ ...server, origin: `http://127.0.0.1:${port}` });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => signalGroup(child, "SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(force);
      // The wrapper is gone; whatever it started may still be shutting down.
      signalGroup(child, "SIGKILL");
      resolve();
    });
    signalGroup(child, "SIGTERM");
  });
}

/** Signals the child's whole process group (it was spawned detached, as its leader); falls back to the child alone. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/**
 * A loopback port that was free a moment ago, for servers that cannot listen on port 0 and say which port they got
 * (`react-router-serve` prints the port it was given).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
