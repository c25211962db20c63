// Scenario 2: 200 MiB upload and 200 MiB download, direct vs through proxies; the proxy's RSS must stay flat.
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { undici } from "../lib/deps.mjs";
import { spawnChild, statsDelta } from "../lib/spawn.mjs";
import { fmt, median, mib } from "../lib/stats.mjs";
import { httpVariants } from "../lib/variants.mjs";

const MiB = 1024 * 1024;
const KEY = "bench-key-id:bench-key-secret";
const CHUNK = Buffer.alloc(64 * 1024, 0x62);

const VARIANTS = httpVariants("direct to upstream");

/** Runs scenario 2 and returns its rows. */
export async function runStream({ quick, profileArgv = () => [], sizeMiB = 200 }) {
  const size = sizeMiB * MiB;
  const repeats = quick ? 1 : 3;
  const upstream = await spawnChild("bytes", { key: KEY });
  const rows = [];
  try {
    for (const variant of VARIANTS) {
      for (const direction of ["upload", "download"]) {
        // A fresh proxy per variant and direction, so one transfer's garbage cannot inflate the next one's peak.
        const proxy = variant.proc
          ? await spawnChild(
              variant.proc,
              {
                ...variant.config,
                upstream: upstream.info.url,
                key: KEY,
                maxBodySize: size + MiB,
              },
              {
                execArgv:
                  variant.id === "falgate-undici" ? profileArgv(`stream-${direction}-falgate-undici`) : [],
              },
            )
          : undefined;
        try {
          const target = proxy
            ? { origin: proxy.info.url, path: proxy.info.path, auth: {} }
            : { origin: upstream.info.url, path: null, auth: { authorization: `Key ${KEY}` } };
          // Warm the path (JIT, connection) with a small transfer first.
          await transfer(direction, target, 8 * MiB);
          const settled = await proxy?.resetPeak();
          const before = await proxy?.stats();
          const results = [];
          for (let i = 0; i < repeats; i++) results.push(await transfer(direction, target, size));
          const after = await proxy?.stats();
          const proxyDelta = proxy ? statsDelta(before, after) : undefined;
          const failed = results.find((r) => !r.ok);
          rows.push({
            variant: variant.id,
            label: variant.label,
            direction,
            bytes: size,
            repeats,
            ok: !failed,
            error: failed?.error,
            mibps: median(results.map((r) => r.bytes / MiB / (r.ms / 1000))),
            proxyCpuMsPerMiB: proxyDelta ? proxyDelta.cpuUs / 1000 / ((repeats * size) / MiB) : undefined,
            proxyRssSettled: settled?.rss,
            proxyPeakRss: proxyDelta?.peakRss,
          });
        } finally {
          await proxy?.stop();
        }
      }
    }
  } finally {
    await upstream.stop();
  }
  return rows;
}

async function transfer(direction, target, size) {
  const client = new undici.Client(target.origin, { bodyTimeout: 120_000, headersTimeout: 120_000 });
  const start = performance.now();
  try {
    if (direction === "upload") {
      const res = await client.request({
        path: target.path ?? "/bench/bytes/sink",
        method: "POST",
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(size),
          ...target.auth,
          ...(target.path ? { "x-fal-target-url": "https://fal.run/bench/bytes/sink" } : {}),
        },
        body: bytesReadable(size),
      });
      const answer = await res.body.text();
      const received = res.statusCode === 200 ? JSON.parse(answer).bytes : 0;
      return {
        ms: performance.now() - start,
        bytes: size,
        ok: received === size,
        error: received === size ? undefined : `HTTP ${res.statusCode}, upstream got ${received} bytes`,
      };
    }
    const query = `?bytes=${size}`;
    const res = await client.request({
      path: target.path ?? `/bench/bytes/source${query}`,
      method: "GET",
      headers: {
        ...target.auth,
        ...(target.path ? { "x-fal-target-url": `https://fal.run/bench/bytes/source${query}` } : {}),
      },
    });
    let bytes = 0;
    for await (const chunk of res.body) bytes += chunk.length;
    return {
      ms: performance.now() - start,
      bytes,
      ok: res.statusCode === 200 && bytes === size,
      error: bytes === size ? undefined : `HTTP ${res.statusCode}, got ${bytes} bytes`,
    };
  } finally {
    await client.close();
  }
}

/** `size` bytes, produced on demand (the client holds one 64 KiB buffer, whatever the size). */
function bytesReadable(size) {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

/** Markdown table of scenario 2. */
export function streamTable(rows) {
  const lines = [
    "| path | direction | size MiB × runs | MiB/s (median) | proxy CPU ms/MiB | proxy RSS after warm-up MiB | proxy peak RSS MiB | peak − warm MiB | ok |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.direction} | ${mib(r.bytes)} × ${r.repeats} | ${fmt(r.mibps, 0)} | ${fmt(r.proxyCpuMsPerMiB)} | ${mib(r.proxyRssSettled)} | ${mib(r.proxyPeakRss)} | ${r.proxyPeakRss ? mib(r.proxyPeakRss - r.proxyRssSettled) : "–"} | ${r.ok ? "yes" : `NO: ${r.error}`} |`,
    );
  }
  return lines.join("\n");
}
