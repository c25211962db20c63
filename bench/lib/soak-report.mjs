// The soak's markdown report: the machine, the HTTP soak (RSS over the run, errors, handles before and after)
// and the idle tunnels (memory per tunnel, clean closes), then every invariant with its verdict.
import { machineTable } from "./report.mjs";
import { describeResources } from "./soak-http.mjs";
import { fmt, mib } from "./stats.mjs";

/** Goal of issue 13 for one idle tunnel (reported, not asserted). */
export const TUNNEL_GOAL_BYTES = 64 * 1024;

const kib = (bytes) => (bytes === undefined ? "–" : (bytes / 1024).toFixed(1));
const n = (value) => (value === undefined ? "–" : Math.round(value).toLocaleString("en-US"));

/**
 * @param run `{ machine, plan, command, elapsed, loadBefore, loadAfter, http?, tunnels?, failures }`
 * @returns the report, markdown
 */
export function renderSoakReport(run) {
  const { http, tunnels, failures } = run;
  const out = ["# falgate soak and scale", "", ...machineTable(run), ""];
  if (http) out.push(...httpSection(http));
  if (tunnels) out.push(...tunnelSection(tunnels));
  const checks = [...(http?.checks ?? []), ...(tunnels?.checks ?? [])];
  out.push("## Invariants", "", "| invariant | verdict | measured |", "| --- | --- | --- |");
  for (const c of checks) out.push(`| ${c.name} | ${c.ok ? "pass" : "**FAIL**"} | ${c.detail} |`);
  for (const [part, error] of Object.entries(failures))
    out.push(`| ${part} ran to the end | **FAIL** | ${error} |`);
  out.push("");
  return `${out.join("\n")}\n`;
}

function httpSection(h) {
  const slope = (s) => `${kib(s.slopePerSecond * 60)} KiB/min (${kib(s.slopePer100k)} KiB per 100,000 calls)`;
  const handles = (c) => `${describeResources(c.resources)}; ${c.fds} fds`;
  return [
    "## Proxied calls",
    "",
    `${n(h.calls)} small JSON POSTs (72-byte body echoed back) through falgate's standalone server (the bench's ` +
      `\`falgate-standalone\` row) to the bench's upstream over TLS, wrk at ${h.connections} keep-alive ` +
      `connections in ${h.segments} runs of up to 10 s, after a warm-up of ${n(h.warmupCalls)} calls: ` +
      `${(h.seconds / 60).toFixed(1)} min, ${n(h.rate)} calls/s, p50 ${fmt(h.latency.p50)} ms (median of the ` +
      `runs), p99 ${fmt(h.latency.p99)} ms (worst run); falgate's CPU ${n(h.cpuUsPerCall)} µs per call, its core ` +
      `${Math.round(h.coreUse * 100)} % busy. falgate sampled every second from inside its process.`,
    "",
    "| | RSS MiB | heap used MiB |",
    "| --- | ---: | ---: |",
    `| idle after warm-up (after a GC) | ${mib(h.rss.idleBefore)} | ${mib(h.heap.idleBefore)} |`,
    `| start (first sample under load) | ${mib(h.rss.start)} | ${mib(h.heap.start)} |`,
    `| peak | ${mib(h.rss.peak)} | ${mib(h.heap.peak)} |`,
    `| end (last sample under load) | ${mib(h.rss.end)} | ${mib(h.heap.end)} |`,
    `| mean over the first half of the load | ${mib(h.rss.firstHalfMean)} | ${mib(h.heap.firstHalfMean)} |`,
    `| mean over the second half of the load | ${mib(h.rss.secondHalfMean)} | ${mib(h.heap.secondHalfMean)} |`,
    `| idle after the load (after a GC) | ${mib(h.rss.idleAfter)} | ${mib(h.heap.idleAfter)} |`,
    "",
    `Slope over the second half (least squares over the samples): RSS ${slope(h.rss)}; heap used ${slope(h.heap)}.`,
    "",
    `RSS / heap used (MiB) at every tenth of the calls: ${h.tenths
      .map((t) => `${mib(t.rss)} / ${mib(t.heapUsed)}`)
      .join(", ")}.`,
    "",
    `Errors: ${n(h.non2xx)} non-2xx, ${n(h.socketErrors)} socket errors (connect, read, write, timeout), ` +
      `${n(h.shortAnswers)} runs with short answers.`,
    "",
    "Handles (`process.getActiveResourcesInfo()` by type) and open descriptors, each counted after a GC once " +
      "every connection had closed (clients gone, the upstream's idle connections timed out):",
    "",
    `- fresh process: ${handles(h.handles.fresh)}`,
    `- after the warm-up: ${handles(h.handles.before)}`,
    `- after the load: ${handles(h.handles.after)} (${(h.handles.backMs / 1000).toFixed(1)} s after it stopped)`,
    "",
  ];
}

function tunnelSection(t) {
  const goal = t.perTunnel.rss <= TUNNEL_GOAL_BYTES ? "within" : "above";
  const capNote =
    t.cap === 0
      ? "no per-principal cap"
      : `falgate's per-principal cap of ${t.cap} (${n(t.principals)} principals, ${n(t.tunnels / t.principals)} tunnels each)`;
  return [
    "## Idle tunnels",
    "",
    `${n(t.tunnels)} realtime tunnels on one falgate process (standalone, tunnel on, ${capNote}), each opened ` +
      "with its own single-use falgate token by a client process, fal's side a WebSocket echo " +
      `${t.falTls ? "over TLS" : "over plain ws: (not TLS, unlike fal)"} ` +
      `(bench/procs/realtime.mjs); opened ${t.batch} at a time in ${t.openSeconds.toFixed(1)} s, then idle. ` +
      "Memory is falgate's, after a GC, with every tunnel open, against the same after a warm-up.",
    "",
    ...(t.fdNote ? [`Fewer than asked: ${t.fdNote}.`, ""] : []),
    "| | before | all open | per tunnel |",
    "| --- | ---: | ---: | ---: |",
    `| RSS | ${mib(t.rss.before)} MiB | ${mib(t.rss.open)} MiB | **${kib(t.perTunnel.rss)} KiB** |`,
    `| V8 heap used | ${mib(t.heapUsed.before)} MiB | ${mib(t.heapUsed.open)} MiB | ${kib(t.perTunnel.heapUsed)} KiB |`,
    `| external (Buffers, outside the heap) | ${mib(t.external.before)} MiB | ${mib(t.external.open)} MiB | ${kib(t.perTunnel.external)} KiB |`,
    `| open descriptors | | | ${fmt(t.perTunnel.fds)} |`,
    "",
    `Peak RSS while opening: ${mib(t.rss.peak)} MiB. Goal: ≤ 64 KiB of RSS per idle tunnel: ${goal} it ` +
      `(reported, not asserted). A sample of ${t.echo.tried} tunnels echoed a frame after the measurement ` +
      `(${t.echo.failed} failed).`,
    "",
    `Shutdown (SIGTERM): falgate exited with code ${t.shutdown.exitCode ?? "–"} in ` +
      `${(t.shutdown.ms / 1000).toFixed(1)} s; the clients received ${closes(t.clientCloses)} ` +
      `(${t.clientsStillOpen} left open, ${t.clientErrors} socket errors); fal's side received ` +
      `${closes(t.upstreamCloses)} (${t.upstreamStillOpen} left open).`,
    "",
  ];
}

function closes(counts) {
  const entries = Object.entries(counts);
  if (entries.length === 0) return "no close";
  return entries.map(([code, count]) => `${n(count)} × ${code}`).join(", ");
}
