// The markdown report: targets first, then one table per workload with ratio columns against rows of the
// same run.
import { WINDOW } from "../scenarios/tunnel.mjs";
import { profilesMarkdown } from "./profile.mjs";
import { REFERENCES } from "./rows.mjs";
import { fmt, mib } from "./stats.mjs";

const byId = (list, id) => list?.find((r) => r.id === id && !r.skipped);

/** `value / reference` of `metric`, as "0.87×", or "–". */
function ratio(list, row, refId, metric) {
  const ref = byId(list, refId);
  if (!ref || !row[metric] || !ref[metric]) return "–";
  return `${(row[metric] / ref[metric]).toFixed(2)}×`;
}

/** Only adapter and limits rows are compared with falgate standalone. */
function vsStandalone(list, row, metric) {
  return row.group === "adapter" || row.group === "limits"
    ? ratio(list, row, REFERENCES.standalone, metric)
    : "–";
}

const percent = (share) => (share === undefined ? "–" : `${(share * 100).toFixed(0)} %`);

function notes(row) {
  return row.problems?.length ? `**${row.problems.join("; ")}**` : "";
}

function table(head, align, lines) {
  return [
    `| ${head.join(" | ")} |`,
    `| ${align.join(" | ")} |`,
    ...lines.map((l) => `| ${l.join(" | ")} |`),
  ].join("\n");
}

const RATIO_HEAD = ["× pass-through", "× reply-from", "× hpm", "× falgate standalone"];
const ratioCells = (list, row, metric) => [
  ratio(list, row, REFERENCES.passthrough, metric),
  ratio(list, row, REFERENCES.replyFrom, metric),
  ratio(list, row, REFERENCES.hpm, metric),
  vsStandalone(list, row, metric),
];

/** Targets table. */
export function targetsTable(targets) {
  return table(
    ["target", "measured", "goal", "verdict", "note"],
    ["---", "---:", "---:", "---", "---"],
    targets.map((t) => [
      t.text,
      t.measured ?? "–",
      t.goal,
      t.verdict === "FAIL" ? "**FAIL**" : t.verdict,
      t.note,
    ]),
  );
}

/** Small JSON at 16 connections: throughput and its ratios. */
export function throughputTable(list) {
  return table(
    [
      "row",
      "req/s",
      ...RATIO_HEAD,
      "p50 ms",
      "p99 ms",
      "proxy CPU µs/req",
      "proxy core use",
      "proxy peak RSS MiB",
      "notes",
    ],
    ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"],
    list.map((r) => [
      r.label,
      fmt(r.rps, 0),
      ...ratioCells(list, r, "rps"),
      fmt(r.p50),
      fmt(r.p99),
      fmt(r.cpuUsPerRequest, 0),
      percent(r.coreUse),
      mib(r.peakRss),
      notes(r),
    ]),
  );
}

/** Small JSON on one connection: latency, and what each row adds to the pass-through and to direct TLS. */
export function latencyTable(list) {
  const added = (r, refId) => {
    const ref = byId(list, refId);
    if (!ref) return "–";
    const d = r.p50 - ref.p50;
    return `${d >= 0 ? "+" : ""}${d.toFixed(3)}`;
  };
  return table(
    [
      "row",
      "req/s",
      "p50 ms",
      "p99 ms",
      "p50 − pass-through ms",
      "p50 − direct TLS ms",
      "proxy CPU µs/req",
      "notes",
    ],
    ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---"],
    list.map((r) => [
      r.label,
      fmt(r.rps, 0),
      fmt(r.p50, 3),
      fmt(r.p99, 3),
      added(r, REFERENCES.passthrough),
      added(r, "direct-tls"),
      fmt(r.cpuUsPerRequest, 0),
      notes(r),
    ]),
  );
}

/** 1 MiB answers. */
export function largeTable(list) {
  return table(
    [
      "row",
      "req/s",
      "MiB/s",
      ...RATIO_HEAD,
      "p50 ms",
      "p99 ms",
      "proxy CPU µs/req",
      "proxy core use",
      "proxy peak RSS MiB",
      "notes",
    ],
    ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"],
    list.map((r) => [
      r.label,
      fmt(r.rps, 0),
      fmt(r.mibps, 0),
      ...ratioCells(list, r, "rps"),
      fmt(r.p50),
      fmt(r.p99),
      fmt(r.cpuUsPerRequest, 0),
      percent(r.coreUse),
      mib(r.peakRss),
      notes(r),
    ]),
  );
}

/** SSE time to first event. */
export function sseTable(list) {
  const direct = byId(list, "direct-tls");
  return table(
    [
      "row",
      "streams",
      "first event p50 ms",
      "first event p99 ms",
      "p50 − direct TLS ms",
      "whole stream p50 ms",
      "notes",
    ],
    ["---", "---:", "---:", "---:", "---:", "---:", "---"],
    list.map((r) => [
      r.label,
      r.streams,
      fmt(r.p50, 3),
      fmt(r.p99, 3),
      direct ? `${r.p50 - direct.p50 >= 0 ? "+" : ""}${(r.p50 - direct.p50).toFixed(3)}` : "–",
      fmt(r.totalP50),
      notes(r),
    ]),
  );
}

/** Concurrent uploads. */
export function uploadTable(list) {
  return table(
    [
      "row",
      "uploads",
      "MiB/s (all four)",
      "proxy CPU ms/MiB",
      "proxy RSS after warm-up MiB",
      "peak RSS growth MiB",
      "notes",
    ],
    ["---", "---", "---:", "---:", "---:", "---:", "---"],
    list.map((r) =>
      r.skipped
        ? [r.label, "–", "–", "–", "–", "–", `not run: ${r.skipped}`]
        : [
            r.label,
            `${r.uploads} × ${r.repeats}`,
            fmt(r.mibps, 0),
            fmt(r.cpuMsPerMiB),
            mib(r.rssWarm),
            r.growth === undefined ? "–" : mib(r.growth),
            notes(r),
          ],
    ),
  );
}

/** The tunnel: round trips, pipelined frames, and 200 connections at once. */
export function tunnelTables(list, window) {
  const frames = table(
    [
      "path",
      "RTT p50 ms (64 B)",
      "RTT p99 ms",
      `frames/s, 64 B, ${window} in flight`,
      `MiB/s each way, 64 KiB, ${window} in flight`,
      "proxy CPU µs/round trip",
      "proxy CPU µs/echoed frame (64 B / 64 KiB)",
    ],
    ["---", "---:", "---:", "---:", "---:", "---:", "---:"],
    list.map((r) => [
      r.label,
      fmt(r.small?.rttP50, 3),
      fmt(r.small?.rttP99, 3),
      fmt(r.small?.framesPerSec, 0),
      fmt(r.large?.mibps, 1),
      fmt(r.small?.cpuUsPerRtt, 0),
      `${fmt(r.small?.cpuUsPerFrame, 0)} / ${fmt(r.large?.cpuUsPerFrame, 0)}`,
    ]),
  );
  const crowd = table(
    [
      "path",
      "connections",
      "open all ms",
      "one echo on each ms",
      "proxy RSS growth MiB",
      "KiB per connection",
      "notes",
    ],
    ["---", "---:", "---:", "---:", "---:", "---:", "---"],
    list
      .filter((r) => r.crowd)
      .map((r) => [
        r.label,
        r.crowd.connections,
        fmt(r.crowd.openMs, 0),
        fmt(r.crowd.echoMs, 1),
        r.crowd.growth === undefined ? "–" : mib(r.crowd.growth),
        r.crowd.growth === undefined ? "–" : fmt(r.crowd.growth / 1024 / r.crowd.connections, 0),
        notes(r.crowd),
      ]),
  );
  return `${frames}\n\n${crowd}`;
}

/**
 * The machine table both reports open with (the bench's and the soak's).
 * @param run `{ machine, plan, command, elapsed, loadBefore, loadAfter }`
 * @returns markdown lines
 */
export function machineTable({ machine, plan, command, elapsed, loadBefore, loadAfter }) {
  return [
    "| | |",
    "| --- | --- |",
    `| date | ${machine.date} |`,
    `| revision | ${machine.revision} |`,
    `| node | ${machine.node} |`,
    `| cpu | ${machine.cores} × ${machine.cpu} |`,
    `| memory | ${machine.memoryGiB} GiB |`,
    `| os | ${machine.os} |`,
    `| cores | ${plan.note} |`,
    `| command | \`${command}\` (${elapsed.toFixed(0)} s) |`,
    `| load average (1 min) | ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after |`,
  ];
}

/**
 * The whole markdown report.
 * @param run everything the orchestrator knows: `{ machine, plan, quick, profileDir, timing, workloads, results,
 *   failures, durations, targets, elapsed, loadBefore, loadAfter, command }`
 */
export function renderReport(run) {
  const { machine, quick, profileDir, timing, workloads, results, failures, durations, targets } = run;
  const { loadBefore, loadAfter } = run;
  // The bench keeps about two cores busy itself; a 1-minute load above 0.5 before it started means other work.
  const busy = loadBefore > 0.5 || loadAfter > machine.cores * 1.5;
  const header = [
    `# falgate benchmark results${quick ? " (quick: checks the harness, not a measurement)" : ""}${profileDir ? " (profiled: slower than normal)" : ""}`,
    "",
    ...machineTable(run),
    "",
    ...(busy
      ? [
          `> **Warning:** the machine was busy with other work (load average ${loadBefore.toFixed(1)} before the ` +
            "run). Throughput and latency are unreliable; re-run on an idle machine before comparing.",
          "",
        ]
      : []),
    ...(Object.keys(failures).length
      ? [
          `> **Failed:** ${Object.entries(failures)
            .map(([k, v]) => `${k}: \`${v}\``)
            .join("; ")}`,
          "",
        ]
      : []),
    "Setup: the upstream is mock-fal over TLS on loopback (a certificate made for this run); every proxy " +
      "forwards to it and runs in its own process on the proxy core, each row built as its documentation " +
      "shows (bench/procs/). wrk (one thread, keep-alive) drives the HTTP rows; rows take turns in rotated " +
      "rounds after a warm-up each, and the median round is reported. *Proxy CPU* is the proxy process's own " +
      "user + system time over the measured runs per request, *core use* that time over the runs' length (near " +
      "100 %: the proxy core was the limit; well below: something else was, e.g. a busy machine); *peak RSS* " +
      "its kernel high-water mark. Ratios " +
      "divide by rows of this run: *× pass-through* by the bare Node pass-through, *× reply-from* by " +
      "@fastify/reply-from, *× hpm* by http-proxy-middleware, *× falgate standalone* (adapters and limits " +
      "rows only) by falgate's standalone server.",
  ];
  const sections = [];
  sections.push(`## Targets\n\n${targetsTable(targets)}`);
  const section = (name, title, text, body) => {
    if (!workloads.includes(name)) return;
    const took = durations[name] === undefined ? "" : `\n\n_${durations[name].toFixed(0)} s_`;
    if (failures[name]) sections.push(`## ${title}\n\n**failed:** \`${failures[name]}\``);
    else if (results[name]) sections.push(`## ${title}\n\n${text}\n\n${body(results[name])}${took}`);
  };
  section(
    "json",
    "Small JSON `fal.run` POST",
    "POST `https://fal.run/fal-ai/echo` with a 72-byte JSON body (mock-fal echoes it). First table: 16 " +
      `connections, ${timing.rounds} × ${timing.seconds} s per row; second: one connection, ` +
      `${timing.rounds} × ${timing.latencySeconds} s per row (wrk \`--latency\`).` +
      (results.redis
        ? ` Redis references, timed from the proxy core over one ioredis connection (${results.redis.ping.count} ` +
          `each): a PING, p50 ${results.redis.ping.p50.toFixed(3)} ms (p99 ${results.redis.ping.p99.toFixed(3)}); ` +
          `one admission of falgate's Redis store shaped like the limits row's (one Lua script), p50 ` +
          `${results.redis.admission.p50.toFixed(3)} ms (p99 ${results.redis.admission.p99.toFixed(3)}).`
        : ""),
    (r) => `${throughputTable(r.c16)}\n\n${latencyTable(r.c1)}`,
  );
  section(
    "large",
    "1 MiB answers",
    "GET `https://fal.run/bench/bytes/source?bytes=1048576` (the upstream's bulk route: 1 MiB of " +
      `application/octet-stream), 16 connections, ${timing.rounds} × ${timing.largeSeconds} s per row.`,
    largeTable,
  );
  section(
    "sse",
    "SSE: time to first event",
    "`fal.stream` calls (POST `https://fal.run/fal-ai/fast-sdxl/stream`; mock-fal sends a keep-alive comment, " +
      "three partial events over 8 ms, then the final one), one at a time, the rows taking turns; time from " +
      "the request to the first `data:` line (Node client on the load cores).",
    sseTable,
  );
  section(
    "upload",
    "Uploads: four concurrent 20 MiB bodies",
    "Four POSTs of 20 MiB at once to the upstream's sink, after a warm-up; *peak RSS growth* is the proxy's " +
      "high-water mark over the uploads minus its RSS after a GC (no forced GC for Next) once warmed up. " +
      "Flat means far below the 80 MiB in flight.",
    uploadTable,
  );
  section(
    "tunnel",
    "Realtime tunnel",
    "Binary frames to mock-fal's realtime echo app: direct with `Authorization: Key`, or through falgate's " +
      "tunnel (standalone server with token keys; a fresh single-use falgate token per connection, minted " +
      "before the clock starts; falgate adds the key and speaks TLS upstream). *200 connections*: all opened " +
      "at once, then one 64 B echo on each.",
    (r) => tunnelTables(r, WINDOW),
  );
  let text = `${header.join("\n")}\n\n${sections.join("\n\n")}\n`;
  if (profileDir) text += `\n${profilesMarkdown(profileDir)}\n`;
  return text;
}
