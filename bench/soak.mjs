#!/usr/bin/env node
// falgate soak and scale: `pnpm soak` (about 6–8 min on a 2-core machine) or scaled down with --calls/--tunnels.
// Two parts on loopback, each process on its own cores as in the bench (falgate pinned to the proxy core):
//   http     1,000,000 small proxied calls through the standalone server: RSS over time, errors, and the
//            handles and descriptors before and after (lib/soak-http.mjs);
//   tunnels  10,000 idle realtime tunnels on one falgate process: memory per tunnel, then SIGTERM and every
//            tunnel closed cleanly on both sides (lib/soak-tunnels.mjs).
// Exits 1 when an invariant fails (an error, a handle not given back, an unclean close); the figures (RSS,
// memory per tunnel against its 64 KiB goal) are reported, not asserted. See bench/README.md.
import { writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { corePlan, pinSelf } from "./lib/cpu.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { soakHttp } from "./lib/soak-http.mjs";
import { renderSoakReport } from "./lib/soak-report.mjs";
import { soakTunnels } from "./lib/soak-tunnels.mjs";
import { createSpawner } from "./lib/spawn.mjs";
import { makeCertificate } from "./lib/tls.mjs";
import { ensureWrk } from "./lib/wrk.mjs";

const PARTS = ["http", "tunnels"];
const DEFAULTS = {
  calls: 1_000_000,
  warmup: 20_000,
  connections: 16,
  tunnels: 10_000,
  batch: 250,
  cap: 5,
  holdSeconds: 5,
};
const FULL_OUT = "bench/results/soak-latest.md";

const USAGE = `Usage: node bench/soak.mjs [--only http|tunnels] [--calls N] [--tunnels N] [--out FILE] [--no-write]
  --only PART        one part: http (proxied calls) or tunnels (idle tunnels); default both
  --calls N          proxied calls after the warm-up (default ${DEFAULTS.calls.toLocaleString("en")})
  --warmup N         warm-up calls (default ${DEFAULTS.warmup.toLocaleString("en")})
  --connections N    wrk's connections (default ${DEFAULTS.connections})
  --tunnels N        idle tunnels (default ${DEFAULTS.tunnels.toLocaleString("en")})
  --batch N          tunnels opened at once (default ${DEFAULTS.batch})
  --cap N            falgate's tunnels per principal, 0 for none (default ${DEFAULTS.cap}, falgate's default);
                     the clients spread over tunnels / cap principals
  --fal-plain        fal's side of the tunnels over plain ws: instead of TLS (TLS's share of the memory)
  --hold N           seconds the tunnels stay idle before falgate is measured (default ${DEFAULTS.holdSeconds})
  --out FILE         write the report there and the numbers to FILE with .json
                     (default for a run at full scale: ${FULL_OUT} and .json)
  --no-write         print only
  --proxy-cpu N      falgate's core (default: the last); --load-cpus LIST everything else's (default: the others)
Build first (pnpm soak does): the soak runs packages/*/dist.`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      only: { type: "string" },
      calls: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      tunnels: { type: "string" },
      batch: { type: "string" },
      cap: { type: "string" },
      hold: { type: "string" },
      "fal-plain": { type: "boolean", default: false },
      out: { type: "string" },
      "no-write": { type: "boolean", default: false },
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
const usageError = (message) => {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
};
const whole = (name, fallback, min = 1) => {
  if (values[name] === undefined) return fallback;
  const value = Number(values[name].replaceAll("_", ""));
  if (!Number.isInteger(value) || value < min) usageError(`--${name} must be a whole number >= ${min}`);
  return value;
};
if (values.only !== undefined && !PARTS.includes(values.only))
  usageError(`--only must be one of ${PARTS.join(", ")}`);
const parts = values.only ? [values.only] : PARTS;
const options = {
  calls: whole("calls", DEFAULTS.calls),
  warmup: whole("warmup", DEFAULTS.warmup),
  connections: whole("connections", DEFAULTS.connections),
  tunnels: whole("tunnels", DEFAULTS.tunnels),
  batch: whole("batch", DEFAULTS.batch),
  cap: whole("cap", DEFAULTS.cap, 0),
  holdMs: whole("hold", DEFAULTS.holdSeconds, 0) * 1000,
  falPlain: values["fal-plain"],
};
const fullScale =
  parts.length === PARTS.length &&
  options.calls >= DEFAULTS.calls &&
  options.tunnels >= DEFAULTS.tunnels &&
  !options.falPlain;

const started = Date.now();
const log = (line) => process.stderr.write(`[soak ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
const machine = machineInfo();
const loadBefore = os.loadavg()[0];
const plan = corePlan({ proxyCpu: values["proxy-cpu"], loadCpus: values["load-cpus"] });
if (plan.pinned) pinSelf(plan.load);
log(`node ${machine.node}, ${machine.cores} × ${machine.cpu}; ${plan.note}`);

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

const results = {};
const failures = {};
try {
  if (parts.includes("http")) ensureWrk(log);
  const cert = makeCertificate();
  cleanups.push(async () => cert.remove());
  const ctx = {
    log,
    cert,
    scratch: cert.dir,
    loadPrefix: plan.prefix("load"),
    spawnChild: createSpawner({ plan, env: { NODE_EXTRA_CA_CERTS: cert.certFile } }),
  };
  for (const part of parts) {
    const t0 = Date.now();
    try {
      results[part] = part === "http" ? await soakHttp(ctx, options) : await soakTunnels(ctx, options);
    } catch (error) {
      failures[part] = String(error?.message ?? error).split("\n")[0];
      log(`${part} FAILED: ${error?.stack ?? error}`);
    }
    log(`${part}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
} catch (error) {
  failures.setup = String(error?.message ?? error).split("\n")[0];
  log(`FAILED: ${error?.stack ?? error}`);
} finally {
  await cleanUp();
}

const elapsed = (Date.now() - started) / 1000;
const loadAfter = os.loadavg()[0];
const command = `node bench/soak.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
const report = renderSoakReport({
  machine,
  plan,
  command,
  elapsed,
  loadBefore,
  loadAfter,
  http: results.http,
  tunnels: results.tunnels,
  failures,
});
process.stdout.write(report);

const out = values["no-write"] ? undefined : (values.out ?? (fullScale ? FULL_OUT : undefined));
if (out) {
  const target = new URL(out, `file://${process.cwd()}/`);
  writeFileSync(target, report);
  const jsonTarget = new URL(out.replace(/(\.md)?$/, ".json"), `file://${process.cwd()}/`);
  const json = { machine, command, cores: plan.note, options, elapsedSeconds: elapsed, results, failures };
  json.loadAverage = { before: loadBefore, after: loadAfter };
  writeFileSync(jsonTarget, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${out} and its .json`);
}
const failed =
  Object.keys(failures).length > 0 || Object.values(results).some((r) => r.checks.some((c) => !c.ok));
log(`total ${elapsed.toFixed(0)} s${failed ? ": an invariant FAILED" : ": every invariant held"}`);
process.exit(failed ? 1 : 0);
