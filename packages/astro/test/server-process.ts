import { type ChildProcess, spawn } from "node:child_process";

/** A production server started as its own process. */
export interface ServerProcess {
  origin: string;
  /** Everything it printed so far (for failure messages). */
  output(): string;
  close(): Promise<void>;
}

/**
 * Starts `node <entry>` with `env` and resolves once it prints the address it listens on (`ready` captures the
 * origin); rejects with its output if it exits first or takes longer than `timeoutMs`.
 */
export function startServerProcess(
  entry: string,
  options: { cwd: string; env: NodeJS.ProcessEnv; ready: RegExp; timeoutMs?: number },
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [entry], {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop(child);
      reject(new Error(`${entry} did not start in time:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code}):\n${output}`));
    };
    const onData = () => {
      const origin = options.ready.exec(output)?.[1];
      if (!origin) return;
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.off("exit", onExit);
      resolve({ origin, output: () => output, close: () => stop(child) });
    };
    child.stdout.on("data", onData);
    child.once("exit", onExit);
    child.once("error", reject);
  });
}

/** SIGTERM, then SIGKILL if open connections keep it alive past a grace period. */
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
