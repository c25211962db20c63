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
import { startRedis } from "./lib/redis.mjs";
import { renderReport } from "./lib/report.mjs";
import { allRows, selectFromOnly } from "./lib/rows.mjs";
import { createSpawner } from "./lib/spawn.mjs";
import { evaluateTargets } from "./lib/targets.mjs";
import { makeCertificate } from "./lib/tls.mjs";
import { ensureWrk } from "./lib/wrk.mjs";
import { LIMITS_WIRED } from "./procs/falgate.mjs";
import { runJson } from "./scenarios/json.mjs";
import { runLarge } from "./scenarios/large.mjs";
import { runSse } from "./scenarios/sse.mjs";
import { runTunnel } from "./scenarios/tunnel.mjs";
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
    // The reference round trips, timed from the proxy core (bench/procs/redis-probe.mjs).
    const probe = await ctx.spawnChild("redis-probe", { redisUrl: redis.url, count: quick ? 1_000 : 5_000 });
    results.redis = probe.info;
    await probe.stop();
    log(
      `redis from the proxy core: PING p50 ${results.redis.ping.p50.toFixed(3)} ms, ` +
        `admission p50 ${results.redis.admission.p50.toFixed(3)} ms`,
    );
  }
  if (needHttp && httpRows.some((r) => r.underNext)) await buildNextApp(log);

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
const report = renderReport({
  machine,
  plan,
  quick,
  profileDir,
  timing,
  workloads,
  results,
  failures,
  durations,
  targets,
  elapsed,
  loadBefore,
  loadAfter,
  command: commandLine(),
});
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
