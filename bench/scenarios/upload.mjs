// Four concurrent 20 MiB uploads through each row to the upstream's sink: the proxy must stream them, so its
// peak RSS (kernel high-water mark, reset after a GC once warmed up) must not grow with the bodies.
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { Pool } from "undici";
import { endpoint } from "../lib/fleet.mjs";
import { median } from "../lib/stats.mjs";

const MiB = 1024 * 1024;
const SIZE = 20 * MiB;
const CONCURRENT = 4;
const CHUNK = Buffer.alloc(64 * 1024, 0x62);
const PATH = "/bench/bytes/sink";

/** Runs the workload; one result per row (rows that cannot take binary bodies are marked skipped). */
export async function runUpload(ctx, fleet) {
  const repeats = ctx.quick ? 1 : 3;
  const results = [];
  for (const entry of fleet) {
    const { row, proc } = entry;
    const base = { id: row.id, label: row.label, group: row.group };
    if (row.skip?.upload) {
      results.push({ ...base, skipped: row.skip.upload });
      continue;
    }
    ctx.log(`  upload: ${row.id}`);
    const { url, headers } = endpoint(ctx, entry, PATH);
    const target = new URL(url);
    const pool = new Pool(target.origin, {
      connections: CONCURRENT,
      connect: { ca: ctx.cert.cert },
      bodyTimeout: 120_000,
      headersTimeout: 120_000,
    });
    const batch = (size) =>
      Promise.all(
        Array.from({ length: CONCURRENT }, () =>
          upload(pool, target.pathname + target.search, headers, size),
        ),
      );
    try {
      await batch(MiB); // warm-up: JIT, connections
      const settled = await proc?.resetPeak();
      const before = await proc?.stats();
      const seconds = [];
      const failures = [];
      for (let i = 0; i < repeats; i++) {
        const start = performance.now();
        const answers = await batch(SIZE);
        seconds.push((performance.now() - start) / 1000);
        failures.push(...answers.filter((a) => !a.ok).map((a) => a.error));
      }
      const after = await proc?.stats();
      results.push({
        ...base,
        uploads: `${CONCURRENT} × ${SIZE / MiB} MiB`,
        repeats,
        mibps: median(seconds.map((s) => (CONCURRENT * SIZE) / MiB / s)),
        seconds: median(seconds),
        cpuMsPerMiB: proc
          ? (after.cpuUs - before.cpuUs) / 1000 / ((repeats * CONCURRENT * SIZE) / MiB)
          : undefined,
        rssWarm: settled?.rss,
        peakRss: after?.peakRss,
        growth: proc ? after.peakRss - settled.rss : undefined,
        errors: failures.length,
        problems: failures.length ? [`${failures.length} failed: ${failures[0]}`] : [],
      });
    } finally {
      await pool.close();
    }
  }
  return results;
}

async function upload(pool, path, headers, size) {
  try {
    const res = await pool.request({
      path,
      method: "POST",
      headers: { "content-type": "application/octet-stream", "content-length": String(size), ...headers },
      body: bytes(size),
    });
    const text = await res.body.text();
    const received = res.statusCode === 200 ? JSON.parse(text).bytes : undefined;
    if (received === size) return { ok: true };
    return {
      ok: false,
      error: `HTTP ${res.statusCode}, upstream got ${received} bytes: ${text.slice(0, 120)}`,
    };
  } catch (error) {
    return { ok: false, error: error?.message ?? String(error) };
  }
}

/** `size` bytes produced on demand: the client holds one 64 KiB buffer whatever the size. */
function bytes(size) {
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
