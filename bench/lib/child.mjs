// Child side of the bench's IPC: every server under test runs in its own process and answers `stats` with
// its own CPU time and memory, so the numbers are per process, not per machine.
import { readFileSync, writeFileSync } from "node:fs";
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
 * Runs a bench child: waits for `{type:"start", config}`, calls `start(config)` (which returns
 * `{ info, close, stats?, resetPeak? }`), answers `ready` with `info`, then serves `stats`, `reset-peak` and
 * `exit`. A child that supervises another process (the Next row) reports that process through its own
 * `stats`/`resetPeak`.
 */
export function runChild(start) {
  let running;
  const send = (message) => {
    if (process.connected) process.send(message);
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
        case "reset-peak": {
          send({ type: "reset-peak", id: message.id, ...(running?.resetPeak ?? ownResetPeak)() });
          break;
        }
        case "exit": {
          await running?.close();
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
  // The orchestrator died: do not linger.
  process.on("disconnect", async () => {
    await running?.close().catch(() => undefined);
    process.exit(0);
  });
}
