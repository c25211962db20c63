// Parent side of the bench's IPC: one Node process per server under test, pinned by the core plan.
import { spawn } from "node:child_process";

const procsDir = new URL("../procs/", import.meta.url);

/**
 * A spawner bound to a core plan (lib/cpu.mjs) and an environment shared by every child (the upstream's CA in
 * `NODE_EXTRA_CA_CERTS`, telemetry off, ...).
 */
export function createSpawner({ plan, env }) {
  /**
   * Starts `bench/procs/<name>.mjs` on the cores of `role` ("proxy" or "load"), sends it `config`, and
   * resolves once it listens. `execArgv` adds Node flags (e.g. `--cpu-prof`) to that child only; `fdLimit`
   * starts it through `sh -c 'ulimit -n N'` (raising the hard limit too needs root; the child checks what it
   * got), for the soak's processes with tens of thousands of sockets.
   */
  return async function spawnChild(name, config = {}, { role = "proxy", execArgv = [], fdLimit } = {}) {
    const script = new URL(`${name}.mjs`, procsDir).pathname;
    let argv = [...plan.prefix(role), process.execPath, "--expose-gc", ...execArgv, script];
    if (fdLimit) {
      // `exec` keeps the pid: it is the Node process's, as without the wrapper.
      const raise = `ulimit -n ${Number(fdLimit)} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
      argv = ["sh", "-c", raise, "sh", ...argv];
    }
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, ...env },
    });
    return connect(name, child, config);
  };
}

async function connect(name, child, config) {
  let seq = 0;
  const waiting = new Map();
  let exited = false;
  const exitedPromise = new Promise((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
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
  child.once("error", (error) => {
    for (const pending of waiting.values()) pending.reject(error);
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

  // Starting may include a framework's own start-up (next start): allow it time.
  let ready;
  try {
    ready = await call("start", { config }, 120_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    name,
    pid: child.pid,
    info: ready.info,
    /** Resolves with `{ code, signal }` once the process has exited (by `stop()`, a signal or on its own). */
    exited: exitedPromise,
    /** CPU µs (user + system), current and peak RSS of the process under test. */
    stats: () => call("stats"),
    /**
     * Memory as the process sees it (RSS, heap used and total, external), with `{ handles: true }` its active
     * handles by type and open descriptors, with `{ gc: true }` after a GC; `info` holds the child's own counters.
     */
    probe: (options = {}) => call("probe", { options }),
    /** Runs the child's step `name` (its `calls[name](args)`) and resolves with what it returns. */
    invoke: async (name, args, timeoutMs = 120_000) => (await call("call", { name, args }, timeoutMs)).result,
    /** Runs a GC (where it can) and resets the peak-RSS high-water mark to the current RSS. */
    resetPeak: () => call("reset-peak"),
    /** Asks the child to close its servers and exit; kills it if it does not within 10 s. */
    async stop() {
      if (exited) return;
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      try {
        await call("exit", {}, 12_000);
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
  return { cpuUs: after.cpuUs - before.cpuUs, rss: after.rss, peakRss: after.peakRss };
}
