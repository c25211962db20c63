// Scenario 3: SSE. Time to first event of mock-fal's `/stream` (the fal.stream path), and events/s of a
// long stream (the bulk upstream emits events as fast as the socket drains).
import { performance } from "node:perf_hooks";
import { undici } from "../lib/deps.mjs";
import { spawnChild, statsDelta } from "../lib/spawn.mjs";
import { fmt, latencySummary, median } from "../lib/stats.mjs";
import { httpVariants } from "../lib/variants.mjs";

const KEY = "bench-key-id:bench-key-secret";
const INPUT = Buffer.from(JSON.stringify({ prompt: "a lighthouse at dusk, oil painting" }));
const LF = 0x0a;

const VARIANTS = httpVariants("direct to upstream");

/**
 * Runs scenario 3 and returns `{ first, long }` rows. All paths are up at once and take turns (one stream
 * each, round-robin), so outside load hits them alike.
 */
export async function runSse({ quick }) {
  const streams = quick ? 40 : 200;
  const events = quick ? 30_000 : 150_000;
  const rounds = 3;
  // A short run time keeps each /stream call brief; the first event is sent right after the headers anyway.
  const mock = await spawnChild("mock", { runMs: 8 });
  const bytes = await spawnChild("bytes", { key: KEY });
  const procs = [];
  try {
    const paths = [];
    for (const variant of VARIANTS) {
      const viaMock = variant.proc
        ? await spawnChild(variant.proc, { ...variant.config, upstream: mock.info.url, key: mock.info.key })
        : undefined;
      const viaBytes = variant.proc
        ? await spawnChild(variant.proc, { ...variant.config, upstream: bytes.info.url, key: KEY })
        : undefined;
      if (viaMock) procs.push(viaMock, viaBytes);
      const short = viaMock
        ? { origin: viaMock.info.url, path: viaMock.info.path, auth: {}, proxied: true }
        : { origin: mock.info.url, auth: { authorization: `Key ${mock.info.key}` } };
      const long = (count) => {
        const query = `?events=${count}&size=100`;
        return viaBytes
          ? {
              origin: viaBytes.info.url,
              path: viaBytes.info.path,
              headers: { "x-fal-target-url": `https://fal.run/bench/bytes/sse${query}` },
            }
          : {
              origin: bytes.info.url,
              path: `/bench/bytes/sse${query}`,
              headers: { authorization: `Key ${KEY}` },
            };
      };
      paths.push({
        variant,
        viaBytes,
        client: new undici.Client(short.origin, { pipelining: 1 }),
        short,
        long,
        ttfe: [],
        total: [],
        failures: 0,
        rates: [],
        mibps: [],
        received: 0,
        cpuUs: 0,
        ok: true,
      });
    }

    for (const path of paths) for (let i = 0; i < 10; i++) await streamOnce(path.client, path.short); // warm-up
    for (let i = 0; i < streams; i++) {
      for (const path of paths) {
        const result = await streamOnce(path.client, path.short);
        if (!result.ok) path.failures++;
        path.ttfe.push(result.firstMs);
        path.total.push(result.totalMs);
      }
    }
    for (const path of paths) await path.client.close();

    const perRound = Math.ceil(events / rounds);
    for (const path of paths) await longStream(path.long(5_000), 5_000); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const path of paths) {
        const before = await path.viaBytes?.stats();
        const result = await longStream(path.long(perRound), perRound);
        const after = await path.viaBytes?.stats();
        path.rates.push(result.events / (result.ms / 1000));
        path.mibps.push(result.bytes / 1048576 / (result.ms / 1000));
        path.received += result.events;
        path.ok &&= result.ok;
        if (before) path.cpuUs += statsDelta(before, after).cpuUs;
      }
    }

    const first = [];
    const long = [];
    for (const path of paths) {
      const f = latencySummary(path.ttfe);
      const t = latencySummary(path.total);
      const { id, label } = path.variant;
      first.push({
        variant: id,
        label,
        streams,
        failures: path.failures,
        p50: f.p50,
        p99: f.p99,
        totalP50: t.p50,
      });
      long.push({
        variant: id,
        label,
        events: perRound * rounds,
        received: path.received,
        eventsPerSec: median(path.rates),
        mibps: median(path.mibps),
        proxyCpuUsPerEvent: path.viaBytes ? path.cpuUs / (perRound * rounds) : undefined,
        ok: path.ok,
      });
    }
    const direct = first.find((d) => d.variant === "direct");
    for (const r of first) if (r !== direct) r.addedP50 = r.p50 - direct.p50;
    return { first, long };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all([mock.stop(), bytes.stop()]);
  }
}

/** One `fal.stream` call: POST .../stream, time to the first `data:` line and to the end. */
async function streamOnce(client, target) {
  const start = performance.now();
  const res = await client.request({
    path: target.proxied ? target.path : "/fal-ai/fast-sdxl/stream",
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "text/event-stream",
      ...target.auth,
      ...(target.proxied ? { "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl/stream" } : {}),
    },
    body: INPUT,
  });
  let firstMs = Number.NaN;
  let text = "";
  let dataEvents = 0;
  for await (const chunk of res.body) {
    text += chunk.toString("utf8");
    if (Number.isNaN(firstMs) && text.includes("data:")) firstMs = performance.now() - start;
  }
  dataEvents = text.split("\ndata:").length - 1 + (text.startsWith("data:") ? 1 : 0);
  return { ok: res.statusCode === 200 && dataEvents >= 2, firstMs, totalMs: performance.now() - start };
}

/** Reads a long SSE answer, counting events (blank-line terminated) across chunk boundaries. */
async function longStream(target, expected) {
  const client = new undici.Client(target.origin, { bodyTimeout: 120_000 });
  const start = performance.now();
  const res = await client.request({
    path: target.path,
    method: "GET",
    headers: { accept: "text/event-stream", ...target.headers },
  });
  let events = 0;
  let bytes = 0;
  let previous = 0;
  for await (const chunk of res.body) {
    bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === LF && previous === LF) events++;
      previous = c;
    }
  }
  const ms = performance.now() - start;
  await client.close();
  return { events, bytes, ms, ok: res.statusCode === 200 && events === expected };
}

/** Markdown tables of scenario 3. */
export function sseTables({ first, long }) {
  const a = [
    "| path | streams | first event p50 ms | first event p99 ms | added p50 ms | whole stream p50 ms | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...first.map(
      (r) =>
        `| ${r.label} | ${r.streams} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.addedP50)} | ${fmt(r.totalP50)} | ${r.failures} |`,
    ),
  ];
  const b = [
    "| path | events (~100 B) | events/s (median of 3) | MiB/s | proxy CPU µs/event | ok |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
    ...long.map(
      (r) =>
        `| ${r.label} | ${r.events} | ${fmt(r.eventsPerSec, 0)} | ${fmt(r.mibps, 1)} | ${fmt(r.proxyCpuUsPerEvent)} | ${r.ok ? "yes" : `NO (${r.received} received)`} |`,
    ),
  ];
  return `${a.join("\n")}\n\n${b.join("\n")}`;
}
