// Child side of the bench's IPC: every server under test runs in its own process and answers `stats` with
// its own CPU time and memory, so the numbers are per process, not per machine.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { resourceUsage } from "node:process";
import { fileURLToPath } from "node:url";

/** True when the module at `moduleUrl` is the process's entry point (not imported by another module). */
export function isMain(moduleUrl) {
  return process.argv[1] === fileURLToPath(moduleUrl);
}

/**
 * Peak RSS in bytes since start or since the last {@link resetPeakRss}: the kernel's high-water mark
 * (VmHWM), which costs nothing while the bench runs; `maxRSS` (lifetime) where /proc is unavailable.
 */
function peakRss() {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // Not Linux: fall through to the lifetime maximum.
  }
  return resourceUsage().maxRSS * 1024;
}

/** Resets the kernel's RSS high-water mark to the current RSS (Linux `clear_refs` 5); false if unsupported. */
function resetPeakRss() {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** This process's CPU time and memory, in the shape of a `stats` answer. */
function ownStats() {
  const cpu = process.cpuUsage();
  return { cpuUs: cpu.user + cpu.system, rss: process.memoryUsage.rss(), peakRss: peakRss() };
}

/** Collects garbage first, so the baseline is live memory rather than garbage of the warm-up. */
function ownResetPeak() {
  global.gc?.();
  const reset = resetPeakRss();
  return { rss: process.memoryUsage.rss(), reset };
}

/**
 * What the soak watches in a process, from inside it: RSS and the heap split (V8 heap used and total, memory
 * outside the heap), and, with `handles`, the active handles and requests counted by type
 * (`process.getActiveResourcesInfo()`) and the open file descriptors (`/proc/self/fd`). `gc` collects garbage
 * first (children run with `--expose-gc`), so a count after load is live memory and live handles.
 */
function ownProbe({ gc = false, handles = false } = {}) {
  if (gc) global.gc?.();
  const memory = process.memoryUsage();
  const probe = {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
  };
  if (!handles) return probe;
  const resources = {};
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
  let fds;
  try {
    // The directory's own descriptor is counted too: the same one in every probe.
    fds = readdirSync("/proc/self/fd").length;
  } catch {
    // Not Linux: no descriptor count.
  }
  return { ...probe, resources, fds };
}

/**
 * Runs a bench child: waits for `{type:"start", config}`, calls `start(config)` (which returns
 * `{ info, close, stats?, resetPeak?, probe?, calls? }`), answers `ready` with `info`, then serves `stats`,
 * `reset-peak`, `probe` ({@link ownProbe}, plus the child's own counters from `probe()` under `info`), `call`
 * (runs `calls[name](args)`: the steps of a child that does work on request, e.g. the soak's tunnel clients) and
 * `exit`. SIGTERM closes the child as `exit` does, then exits 0, as a server's CLI would. A child that
 * supervises another process (the Next row) reports that process through its own `stats`/`resetPeak`.
 */
export function runChild(start) {
  let running;
  let closing;
  const send = (message) => {
    if (process.connected) process.send(message);
  };
  const close = () => {
    closing ??= Promise.resolve(running?.close());
    return closing;
  };

  process.on("message", async (message) => {
    try {
      switch (message.type) {
        case "start": {
          running = await start(message.config);
          send({ type: "ready", id: message.id, info: running.info });
          break;
        }
        case "stats": {
          send({ type: "stats", id: message.id, ...(running?.stats ?? ownStats)() });
          break;
        }
        case "probe": {
          const probe = ownProbe(message.options);
          send({ type: "probe", id: message.id, ...probe, info: running?.probe?.() });
          break;
        }
        case "call": {
          const work = running?.calls?.[message.name];
          if (!work) throw new Error(`no call ${message.name}`);
          send({ type: "call", id: message.id, result: await work(message.args) });
          break;
        }
        case "reset-peak": {
          send({ type: "reset-peak", id: message.id, ...(running?.resetPeak ?? ownResetPeak)() });
          break;
        }
        case "exit": {
          await close();
          send({ type: "exit", id: message.id });
          // A normal exit (not a signal) so `--cpu-prof` writes its profile.
          setImmediate(() => process.exit(0));
          break;
        }
        default:
          send({ type: "error", id: message.id, error: `unknown message ${message.type}` });
      }
    } catch (error) {
      send({ type: "error", id: message.id, error: error?.stack ?? String(error) });
    }
  });
  process.once("SIGTERM", () =>
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    ),
  );
  // The orchestrator died: do not linger.
  process.on("disconnect", async () => {
    await close().catch(() => undefined);
    process.exit(0);
  });
}
