// The markdown report: targets first, then one table per workload with ratio columns against rows of the
// same run.
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
    ["row", "req/s", ...RATIO_HEAD, "p50 ms", "p99 ms", "proxy CPU µs/req", "proxy peak RSS MiB", "notes"],
    ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"],
    list.map((r) => [
      r.label,
      fmt(r.rps, 0),
      ...ratioCells(list, r, "rps"),
      fmt(r.p50),
      fmt(r.p99),
      fmt(r.cpuUsPerRequest, 0),
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
      "proxy peak RSS MiB",
      "notes",
    ],
    ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"],
    list.map((r) => [
      r.label,
      fmt(r.rps, 0),
      fmt(r.mibps, 0),
      ...ratioCells(list, r, "rps"),
      fmt(r.p50),
      fmt(r.p99),
      fmt(r.cpuUsPerRequest, 0),
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
