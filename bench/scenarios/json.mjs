// Scenario 1: small JSON `fal.run` POSTs (the echo app), direct to mock-fal vs through proxies.
import { createHttpLoad } from "../lib/http-load.mjs";
import { spawnChild, statsDelta } from "../lib/spawn.mjs";
import { fmt, latencySummary, median } from "../lib/stats.mjs";
import { httpVariants } from "../lib/variants.mjs";

const BODY = Buffer.from(
  JSON.stringify({ prompt: "a lighthouse at dusk, oil painting", seed: 42, num_images: 1 }),
);
const TARGET = "https://fal.run/fal-ai/echo";
const ROUNDS = 3;

const VARIANTS = httpVariants("direct to mock-fal");

/**
 * Runs scenario 1 and returns its rows. Variants are interleaved (round-robin, `ROUNDS` rounds of
 * total/ROUNDS requests each) so that a burst of outside load hits them all alike; req/s is the median
 * round, latencies are pooled over the rounds.
 */
export async function runJson({ quick, profileArgv = () => [] }) {
  const totals = quick ? { 1: 300, 32: 1_500 } : { 1: 3_000, 32: 9_000 };
  const warmup = quick ? 300 : 1_000;
  const mock = await spawnChild("mock", {});
  const procs = new Map();
  const rows = [];
  try {
    for (const variant of VARIANTS) {
      if (!variant.proc) continue;
      const execArgv = profileArgv(`json-${variant.id}`);
      procs.set(
        variant.id,
        await spawnChild(
          variant.proc,
          { ...variant.config, upstream: mock.info.url, key: mock.info.key },
          { execArgv },
        ),
      );
    }
    for (const concurrency of [1, 32]) {
      const perRound = Math.ceil(totals[concurrency] / ROUNDS);
      const runs = VARIANTS.map((variant) => {
        const proxy = procs.get(variant.id);
        return {
          variant,
          proxy,
          load: createHttpLoad(proxy ? proxy.info.url : mock.info.url, concurrency),
          spec: proxy ? proxiedSpec(proxy.info.path) : directSpec(mock.info.key),
          latencies: [],
          rps: [],
          cpu: { proxy: 0, mock: 0, client: 0 },
          failures: 0,
          firstFailure: undefined,
        };
      });
      for (const run of runs) await run.load.run(warmup, run.spec);
      for (let round = 0; round < ROUNDS; round++) {
        for (const run of runs) {
          const before = await snapshot(mock, run.proxy);
          const result = await run.load.run(perRound, run.spec);
          const after = await snapshot(mock, run.proxy);
          run.latencies.push(...result.latencies);
          run.rps.push(perRound / (result.wallMs / 1000));
          run.failures += result.failures;
          run.firstFailure ??= result.firstFailure;
          if (run.proxy) run.cpu.proxy += statsDelta(before.proxy, after.proxy).cpuUs;
          run.cpu.mock += statsDelta(before.mock, after.mock).cpuUs;
          run.cpu.client +=
            after.client.user - before.client.user + (after.client.system - before.client.system);
        }
      }
      for (const run of runs) {
        await run.load.close();
        const total = perRound * ROUNDS;
        const { p50, p99 } = latencySummary(run.latencies);
        rows.push({
          variant: run.variant.id,
          label: run.variant.label,
          concurrency,
          requests: total,
          failures: run.failures,
          firstFailure: run.firstFailure,
          rps: median(run.rps),
          p50,
          p99,
          proxyCpuUs: run.proxy ? run.cpu.proxy / total : undefined,
          mockCpuUs: run.cpu.mock / total,
          clientCpuUs: run.cpu.client / total,
        });
      }
    }
    for (const [id, proc] of procs) {
      const { maxRss } = await proc.stats();
      for (const r of rows) if (r.variant === id) r.proxyPeakRss = maxRss;
    }
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await mock.stop();
  }
  for (const r of rows) {
    const direct = rows.find((d) => d.variant === "direct" && d.concurrency === r.concurrency);
    if (direct && r.variant !== "direct") r.addedP50 = r.p50 - direct.p50;
  }
  return rows;
}

function proxiedSpec(path) {
  const headers = { "content-type": "application/json", "x-fal-target-url": TARGET };
  return () => ({ path, method: "POST", headers, body: BODY });
}

function directSpec(key) {
  const headers = { "content-type": "application/json", authorization: `Key ${key}` };
  return () => ({ path: "/fal-ai/echo", method: "POST", headers, body: BODY });
}

async function snapshot(mock, proxy) {
  const [m, p] = await Promise.all([mock.stats(), proxy?.stats()]);
  return { mock: m, proxy: p, client: process.cpuUsage() };
}

/** Markdown table of scenario 1. */
export function jsonTable(rows) {
  const lines = [
    "| path | conc. | requests | req/s | p50 ms | p99 ms | added p50 ms | proxy CPU µs/req | upstream CPU µs/req | client CPU µs/req | proxy peak RSS MiB | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.concurrency} | ${r.requests} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.addedP50)} | ${fmt(r.proxyCpuUs, 0)} | ${fmt(r.mockCpuUs, 0)} | ${fmt(r.clientCpuUs, 0)} | ${r.proxyPeakRss ? (r.proxyPeakRss / 1048576).toFixed(0) : "–"} | ${r.failures}${r.firstFailure ? ` (${r.firstFailure})` : ""} |`,
    );
  }
  return lines.join("\n");
}
