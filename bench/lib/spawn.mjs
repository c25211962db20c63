// Parent side of the bench's IPC: one Node process per server under test.
import { fork } from "node:child_process";

const procsDir = new URL("../procs/", import.meta.url);

/**
 * Forks `bench/procs/<name>.mjs`, sends it `config`, and resolves once it listens.
 * `execArgv` adds Node flags (e.g. `--cpu-prof`) to that child only.
 */
export async function spawnChild(name, config = {}, { execArgv = [] } = {}) {
  const child = fork(new URL(`${name}.mjs`, procsDir), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: ["--expose-gc", ...execArgv],
  });
  let seq = 0;
  const waiting = new Map();
  let exited = false;
  const exitedPromise = new Promise((resolve) => child.once("exit", resolve));
  child.on("message", (message) => {
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.type === "error") pending.reject(new Error(`${name}: ${message.error}`));
    else pending.resolve(message);
  });
  child.once("exit", (code, signal) => {
    exited = true;
    for (const pending of waiting.values()) pending.reject(new Error(`${name} exited (${code ?? signal})`));
    waiting.clear();
  });

  const call = (type, extra = {}, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error(`${name} is not running`));
      const id = ++seq;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${name}: no answer to ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      child.send({ type, id, ...extra });
    });

  const ready = await call("start", { config });
  return {
    name,
    pid: child.pid,
    info: ready.info,
    /** CPU (µs, user/system), current and peak RSS of the child. */
    stats: () => call("stats"),
    /** Runs a GC in the child and resets its peak-RSS high-water mark to the current RSS. */
    resetPeak: () => call("reset-peak"),
    /** Asks the child to close its servers and exit; kills it if it does not within 10 s. */
    async stop() {
      if (exited) return;
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      try {
        await call("exit", {}, 10_000);
      } catch {
        child.kill("SIGKILL");
      }
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}

/** Difference of two `stats()` answers: CPU µs spent, and memory at the end. */
export function statsDelta(before, after) {
  const cpuUs = after.cpu.user - before.cpu.user + (after.cpu.system - before.cpu.system);
  return { cpuUs, rss: after.rss, peakRss: after.peakRss, maxRss: after.maxRss };
}
