#!/usr/bin/env node
// falgate benchmark: `pnpm bench` (full, under 10 min) or `pnpm bench --quick` (1–2 min). See bench/README.md.
// falgate side by side with the proxies a user would otherwise pick, in one run, every ratio against rows of
// that run. This process orchestrates and is one of the load generators (SSE, uploads, tunnel); wrk drives the
// HTTP throughput and latency rows. Every proxy runs in its own process pinned to one core; the upstream (a
// TLS loopback mock-fal), wrk, Redis and this process run on the other cores.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { corePlan, pinSelf } from "./lib/cpu.mjs";
import { startFleet, stopFleet } from "./lib/fleet.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { buildNextApp } from "./lib/next-app.mjs";
import { profilesMarkdown } from "./lib/profile.mjs";
import { pingLatency, startRedis } from "./lib/redis.mjs";
import {
  largeTable,
  latencyTable,
  sseTable,
  targetsTable,
  throughputTable,
  tunnelTables,
  uploadTable,
} from "./lib/report.mjs";
import { allRows, selectFromOnly } from "./lib/rows.mjs";
import { createSpawner } from "./lib/spawn.mjs";
import { evaluateTargets } from "./lib/targets.mjs";
import { makeCertificate } from "./lib/tls.mjs";
import { ensureWrk } from "./lib/wrk.mjs";
import { LIMITS_WIRED } from "./procs/falgate.mjs";
import { runJson } from "./scenarios/json.mjs";
import { runLarge } from "./scenarios/large.mjs";
import { runSse } from "./scenarios/sse.mjs";
import { runTunnel, WINDOW } from "./scenarios/tunnel.mjs";
import { runUpload } from "./scenarios/upload.mjs";

const WORKLOADS = ["json", "large", "sse", "upload", "tunnel"];
const HTTP_WORKLOADS = ["json", "large", "sse", "upload"];

const USAGE = `Usage: node bench/run.mjs [--quick] [--only LIST] [--profile] [--out FILE] [--no-write]
                         [--rounds N] [--seconds N] [--proxy-cpu N] [--load-cpus LIST]
  --quick          1 round of short runs (1–2 min): checks the harness; printed, not written, unless --out
  --only LIST      workloads (${WORKLOADS.join(", ")}) and/or rows (ids, * globs), comma-separated,
                   e.g. --only json,falgate-*,passthrough; rows: ${allRows()
                     .map((r) => r.id)
                     .join(", ")}
  --profile        run the proxies under --cpu-prof and append their hottest code (slower; not written)
  --out FILE       write the markdown report there, and the raw numbers to FILE with .json
                   (default for a full run: bench/results/latest.md and latest.json)
  --no-write       print only
  --rounds N       rounds of each wrk workload (default 3, quick 1)
  --seconds N      seconds of each measured wrk run (default 3 at 16 connections, 2 otherwise)
  --proxy-cpu N    the core of the proxies (default: the last core)
  --load-cpus LIST the cores of wrk, the upstream and this process (default: all others)
Build first (pnpm bench does): the bench runs packages/*/dist.`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      profile: { type: "boolean", default: false },
      out: { type: "string" },
      "no-write": { type: "boolean", default: false },
      rounds: { type: "string" },
      seconds: { type: "string" },
      "proxy-cpu": { type: "string" },
      "load-cpus": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (error) {
  console.error(`${error.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
let selection;
try {
  selection = selectFromOnly(values.only, WORKLOADS, allRows());
} catch (error) {
  console.error(`${error.message}\n\n${USAGE}`);
  process.exit(2);
}
const positive = (name) => {
  if (values[name] === undefined) return undefined;
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a whole number >= 1\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const quick = values.quick;
const timing = {
  rounds: positive("rounds") ?? (quick ? 1 : 3),
  seconds: positive("seconds") ?? (quick ? 2 : 3),
  latencySeconds: positive("seconds") ?? (quick ? 1 : 2),
  largeSeconds: positive("seconds") ?? (quick ? 1 : 2),
  warmSeconds: quick ? 1 : 2,
};

const started = Date.now();
const log = (line) =>
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
const machine = machineInfo();
const loadBefore = os.loadavg()[0];
const plan = corePlan({ proxyCpu: values["proxy-cpu"], loadCpus: values["load-cpus"] });
if (plan.pinned) pinSelf(plan.load);
log(`node ${machine.node}, ${machine.cores} × ${machine.cpu}; ${plan.note}${quick ? "; quick" : ""}`);

const profileDir = values.profile ? join(os.tmpdir(), `falgate-bench-profiles-${Date.now()}`) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
const profileArgv = (name) => (profileDir ? ["--cpu-prof", "--cpu-prof-dir", join(profileDir, name)] : []);

const { workloads, rows } = selection;
const results = {};
const failures = {};
const durations = {};
const cleanups = [];
const cleanUp = async () => {
  while (cleanups.length)
    await cleanups
      .pop()()
      .catch(() => undefined);
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    log(`${signal}: stopping`);
    await cleanUp();
    process.exit(130);
  });
}

const ctx = { quick, timing, log, plan, loadPrefix: plan.prefix("load"), profileArgv };
try {
  if (workloads.some((w) => w === "json" || w === "large")) ensureWrk(log);
  const cert = makeCertificate();
  cleanups.push(async () => cert.remove());
  ctx.cert = cert;
  ctx.scratch = cert.dir;
  ctx.spawnChild = createSpawner({
    plan,
    env: { NODE_EXTRA_CA_CERTS: cert.certFile, NEXT_TELEMETRY_DISABLED: "1" },
  });

  const httpRows = rows;
  const needHttp = workloads.some((w) => HTTP_WORKLOADS.includes(w));
  if (needHttp && httpRows.some((r) => r.needsRedis)) {
    const redis = await startRedis({ prefix: plan.prefix("load"), log });
    cleanups.push(() => redis.stop());
    ctx.redisUrl = redis.url;
    results.redis = await pingLatency(redis.url, quick ? 1_000 : 5_000);
    log(`redis PING p50 ${results.redis.p50.toFixed(3)} ms`);
  }
  if (needHttp && httpRows.some((r) => r.config?.variant === "next")) await buildNextApp(log);

  log("starting the upstream (mock-fal over TLS)");
  const upstream = await ctx.spawnChild(
    "upstream",
    { certFile: cert.certFile, keyFile: cert.keyFile },
    { role: "load" },
  );
  cleanups.push(() => upstream.stop());
  ctx.upstream = upstream.info;

  const run = async (name, work) => {
    if (!workloads.includes(name)) return;
    log(`${name}…`);
    const t0 = Date.now();
    try {
      results[name] = await work();
    } catch (error) {
      failures[name] = String(error?.message ?? error).split("\n")[0];
      log(`${name} FAILED: ${error?.stack ?? error}`);
    }
    durations[name] = (Date.now() - t0) / 1000;
    log(`${name}: ${durations[name].toFixed(0)} s`);
  };

  if (needHttp) {
    log(`starting ${httpRows.filter((r) => r.proc).length} proxies`);
    const fleet = await startFleet(ctx, httpRows);
    cleanups.push(() => stopFleet(fleet));
    await run("json", () => runJson(ctx, fleet));
    await run("large", () => runLarge(ctx, fleet));
    await run("sse", () => runSse(ctx, fleet));
    await run("upload", () => runUpload(ctx, fleet));
    await cleanups.pop()();
  }
  await run("tunnel", () => runTunnel(ctx, rows));
} catch (error) {
  failures.setup = String(error?.message ?? error).split("\n")[0];
  log(`FAILED: ${error?.stack ?? error}`);
} finally {
  await cleanUp();
}

const targets = evaluateTargets(results, { limitsWired: LIMITS_WIRED });
const elapsed = (Date.now() - started) / 1000;
const loadAfter = os.loadavg()[0];
const report = renderReport();
process.stdout.write(report);

const out =
  values["no-write"] || profileDir
    ? undefined
    : (values.out ?? (quick ? undefined : "bench/results/latest.md"));
if (out) {
  const target = new URL(out, `file://${process.cwd()}/`);
  writeFileSync(target, report);
  const jsonTarget = new URL(out.replace(/(\.md)?$/, ".json"), `file://${process.cwd()}/`);
  writeFileSync(
    jsonTarget,
    `${JSON.stringify(
      {
        machine,
        command: commandLine(),
        cores: plan.note,
        timing,
        loadAverage: { before: loadBefore, after: loadAfter },
        elapsedSeconds: elapsed,
        limitsWired: LIMITS_WIRED,
        rows: rows.map(({ id, label, group }) => ({ id, label, group })),
        results,
        failures,
        targets,
      },
      null,
      2,
    )}\n`,
  );
  log(`wrote ${out} and its .json`);
}
log(`total ${elapsed.toFixed(0)} s`);
process.exit(Object.keys(failures).length ? 1 : 0);

function commandLine() {
  const args = process.argv.slice(2);
  return `node bench/run.mjs${args.length ? ` ${args.join(" ")}` : ""}`;
}

function renderReport() {
  // The bench keeps about two cores busy itself; a 1-minute load above 0.5 before it started means other work.
  const busy = loadBefore > 0.5 || loadAfter > machine.cores * 1.5;
  const header = [
    `# falgate benchmark results${quick ? " (quick: checks the harness, not a measurement)" : ""}${profileDir ? " (profiled: slower than normal)" : ""}`,
    "",
    "| | |",
    "| --- | --- |",
    `| date | ${machine.date} |`,
    `| revision | ${machine.revision} |`,
    `| node | ${machine.node} |`,
    `| cpu | ${machine.cores} × ${machine.cpu} |`,
    `| memory | ${machine.memoryGiB} GiB |`,
    `| os | ${machine.os} |`,
    `| cores | ${plan.note} |`,
    `| command | \`${commandLine()}\` (${elapsed.toFixed(0)} s) |`,
    `| load average (1 min) | ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after |`,
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
      "user + system time over the measured runs per request; *peak RSS* its kernel high-water mark. Ratios " +
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
        ? ` Redis reference: one PING from ioredis over loopback, p50 ${results.redis.p50.toFixed(3)} ms, ` +
          `p99 ${results.redis.p99.toFixed(3)} ms (${results.redis.count} PINGs).`
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
