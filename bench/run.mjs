#!/usr/bin/env node
// falgate benchmark: `pnpm bench` (full, < 3 min) or `pnpm bench --quick` (~30 s). See bench/README.md.
// This process is the load generator; every server under test (falgate, the bare floor proxy, mock-fal,
// the bulk upstream) runs in its own child process and reports its own CPU time and memory over IPC.
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { machineInfo } from "./lib/machine.mjs";
import { profileMarkdown } from "./lib/profile.mjs";
import { jsonTable, runJson } from "./scenarios/json.mjs";
import { realtimeTable, runRealtime } from "./scenarios/realtime.mjs";
import { runSse, sseTables } from "./scenarios/sse.mjs";
import { runStream, streamTable } from "./scenarios/stream.mjs";

const USAGE = `Usage: node bench/run.mjs [--quick] [--only json,stream,sse,realtime] [--profile] [--out FILE]
                         [--no-write] [--stream-mib N]
  --quick         fewer iterations (~30 s); results are printed, not written, unless --out is given
  --only          run only these scenarios
  --profile       run the proxies under --cpu-prof and append their hottest code (slower; not written)
  --out FILE      write the markdown report there (default for a full run: bench/results/latest.md)
  --no-write      print only
  --stream-mib N  body size of the streaming scenario (default 200), e.g. to check that memory stays flat
Build first (pnpm bench does): the bench runs packages/*/dist.`;

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    profile: { type: "boolean", default: false },
    out: { type: "string" },
    "stream-mib": { type: "string", default: "200" },
    "no-write": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const SCENARIOS = ["json", "stream", "sse", "realtime"];
const selected = values.only ? values.only.split(",").map((s) => s.trim()) : SCENARIOS;
for (const name of selected) {
  if (!SCENARIOS.includes(name)) {
    console.error(`unknown scenario ${JSON.stringify(name)}\n${USAGE}`);
    process.exit(2);
  }
}
const quick = values.quick;
if (!(Number(values["stream-mib"]) >= 1)) {
  console.error(`--stream-mib must be a number of MiB >= 1\n${USAGE}`);
  process.exit(2);
}
const profileDir = values.profile ? join(os.tmpdir(), `falgate-bench-profiles-${Date.now()}`) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
// One directory per profiled process: a process with worker threads writes one profile per thread.
const profileArgv = (name) => (profileDir ? ["--cpu-prof", "--cpu-prof-dir", join(profileDir, name)] : []);

const machine = machineInfo();
const loadBefore = os.loadavg()[0];
const started = Date.now();
const log = (line) =>
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
log(
  `node ${machine.node}, ${machine.cores} × ${machine.cpu}${quick ? ", quick mode" : ""}${profileDir ? ", profiling" : ""}`,
);

const sections = [];
let failed = false;

async function scenario(name, title, run, render, notes) {
  if (!selected.includes(name)) return;
  log(`${title}…`);
  const t0 = Date.now();
  try {
    const result = await run();
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    sections.push(`## ${title}\n\n${notes}\n\n${render(result)}\n\n_${seconds} s_`);
    log(`${title}: done in ${seconds} s`);
  } catch (error) {
    failed = true;
    sections.push(`## ${title}\n\n**failed:** \`${String(error?.message ?? error).split("\n")[0]}\``);
    log(`${title} FAILED: ${error?.stack ?? error}`);
  }
}

await scenario(
  "json",
  "1. Small JSON `fal.run` POST",
  () => runJson({ quick, profileArgv }),
  jsonTable,
  "POST `https://fal.run/fal-ai/echo` with a 72-byte JSON body; mock-fal answers it back. Closed loop: each of " +
    "`conc.` connections sends its next request when the previous answer is read. The paths take turns (3 " +
    "rounds each, after a warm-up); *req/s* is the median round, latencies are pooled. *Added p50* is the " +
    "median latency minus the direct median at the same concurrency. CPU columns are each process's own " +
    "`process.cpuUsage()` (user + system, all threads) over the measured requests, divided by their number; " +
    "*peak RSS* is the proxy process's lifetime maximum.",
);
await scenario(
  "stream",
  `2. Streaming: ${values["stream-mib"]} MiB upload and download`,
  () => runStream({ quick, profileArgv, sizeMiB: Number(values["stream-mib"]) }),
  streamTable,
  `${values["stream-mib"]} MiB bodies (upload: POST to a sink; download: GET from a source), 3 runs (1 with ` +
    "`--quick`) after an " +
    "8 MiB warm-up, a fresh proxy process per path and direction. *RSS after warm-up* is measured after a forced " +
    "GC; *peak RSS* is the kernel's high-water mark (VmHWM, reset at that point) over the runs. Flat memory " +
    "means *peak − warm* stays far below the body size and does not grow with it.",
);
await scenario(
  "sse",
  "3. Server-sent events",
  () => runSse({ quick }),
  sseTables,
  "First table: `fal.stream` calls (POST `.../fal-ai/fast-sdxl/stream` on mock-fal, 8 ms runs, 4 events), one at " +
    "a time, the paths taking turns; time from the request to the first `data:` line. Second table: long streams " +
    "of ~100-byte events written one `write()` each by the bulk upstream as fast as the socket drains (3 rounds " +
    "per path, median).",
);
await scenario(
  "realtime",
  "4. Realtime WebSocket tunnel",
  () => runRealtime({ quick, profileArgv }),
  realtimeTable,
  "Binary frames to mock-fal's realtime echo app (`fal-ai/echo`), one connection per path, the paths taking " +
    "turns (3 rounds). *Round trips*: one frame in " +
    `flight at a time. *frames/s*: 16 frames kept in flight. Tunnel: falgate token in the URL (single-use, minted ` +
    "per connection), `Authorization: Key` added upstream by falgate.",
);

const elapsed = ((Date.now() - started) / 1000).toFixed(0);
const loadAfter = os.loadavg()[0];
// The bench itself keeps two or three processes runnable; far more than that means someone else ran too.
const busy = loadBefore > 0.5 || loadAfter > machine.cores * 2;
const header = [
  `# falgate benchmark results${quick ? " (quick)" : ""}${profileDir ? " (profiled: slower than normal)" : ""}`,
  "",
  "| | |",
  "| --- | --- |",
  `| date | ${machine.date} |`,
  `| revision | ${machine.revision} |`,
  `| node | ${machine.node} |`,
  `| cpu | ${machine.cores} × ${machine.cpu} |`,
  `| memory | ${machine.memoryGiB} GiB |`,
  `| os | ${machine.os} |`,
  `| command | \`node bench/run.mjs${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}\` (${elapsed} s) |`,
  `| load average (1 min) | ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after |`,
  "",
  ...(busy
    ? [
        `> **Warning:** the machine was busy with other work (load average ${loadBefore.toFixed(1)} before the run). ` +
          "Throughput and latency are unreliable; re-run on an idle machine before comparing.",
        "",
      ]
    : []),
  `Setup: the load generator (this process), the proxy under test and the upstream (mock-fal, or the bulk ` +
    `upstream of \`bench/procs/bytes.mjs\`) are separate Node processes on the same ${machine.cores} cores, talking ` +
    "over loopback HTTP/1.1 keep-alive. They compete for CPU, so req/s is a property of the whole box; the " +
    "per-process CPU columns are what to compare. Fixed iteration counts, warm-up first.",
];
let report = `${header.join("\n")}\n\n${sections.join("\n\n")}\n`;

if (profileDir) {
  const summaries = [];
  for (const name of readdirSync(profileDir).sort()) {
    // The main thread's profile is the biggest one (loader hook threads write tiny ones).
    const files = readdirSync(join(profileDir, name))
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(profileDir, name, f))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    if (files[0]) summaries.push(profileMarkdown(`${name} (${files[0]})`, files[0]));
  }
  report += `\n## CPU profiles of the proxy process\n\nRaw profiles: \`${profileDir}\` (open in Chrome DevTools).\n\n${summaries.join("\n\n")}\n`;
}

process.stdout.write(report);
const out =
  values["no-write"] || profileDir
    ? undefined
    : (values.out ?? (quick ? undefined : "bench/results/latest.md"));
if (out) {
  const target = new URL(out, `file://${process.cwd()}/`);
  writeFileSync(target, report);
  log(`wrote ${out}`);
}
log(`total ${elapsed} s`);
process.exit(failed ? 1 : 0);
