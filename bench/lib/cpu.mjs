// Which core runs what: the proxy under test alone on one core (`taskset -c`), the load generators (wrk,
// this process) and the upstreams on the others. Also reads another process's CPU time and memory from /proc.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`; 100 on every Linux we run on). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function hasTaskset() {
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * The core plan: `proxy` is the core of every proxy under test, `load` the core list of everything else.
 * Without taskset or with a single core nothing is pinned, and `note` says so for the report.
 * @param {{ proxyCpu?: string, loadCpus?: string }} wanted cores from the command line
 */
export function corePlan({ proxyCpu, loadCpus } = {}) {
  const cores = os.availableParallelism();
  if (cores < 2) return { pinned: false, note: "one core only: nothing pinned", prefix: () => [] };
  if (!hasTaskset()) {
    return {
      pinned: false,
      note: "taskset not found (util-linux): nothing pinned, so the proxy competes with the load generators",
      prefix: () => [],
    };
  }
  const proxy = proxyCpu ?? String(cores - 1);
  const load =
    loadCpus ??
    Array.from({ length: cores }, (_, i) => String(i))
      .filter((c) => c !== proxy)
      .join(",");
  return {
    pinned: true,
    proxy,
    load,
    note: `proxies pinned to core ${proxy}; wrk, the upstream, Redis and the bench's own clients on ${load}`,
    /** Command prefix that runs a program on the proxy core or on the load cores. */
    prefix: (role) => ["taskset", "-c", role === "proxy" ? proxy : load],
  };
}

/** Moves every thread of this process onto `cpus` (children spawned later inherit it). */
export function pinSelf(cpus) {
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(process.pid)], { stdio: "ignore" });
}

/** CPU time (µs, user + system) and current and peak RSS (bytes) of another process, from /proc. */
export function procStats(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces): state is index 0, utime 11, stime 12.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { cpuUs: (ticks / CLOCK_TICKS) * 1e6, rss: kb("VmRSS"), peakRss: kb("VmHWM") };
}

/** Resets another process's RSS high-water mark (needs the same user or root); no GC can be forced there. */
export function procResetPeak(pid) {
  let reset = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    reset = false;
  }
  return { rss: procStats(pid).rss, reset };
}
