// SSE time to first event: `fal.stream` calls (POST .../fal-ai/fast-sdxl/stream; mock-fal sends a keep-alive
// comment, three partial events over its run time, then the final one), one at a time, the rows taking turns.
// A proxy that buffered would deliver the first event with the last.
import { performance } from "node:perf_hooks";
import { Client } from "undici";
import { endpoint, rotate } from "../lib/fleet.mjs";
import { latencySummary } from "../lib/stats.mjs";

const PATH = "/fal-ai/fast-sdxl/stream";
const INPUT = JSON.stringify({ prompt: "a lighthouse at dusk, oil painting" });

/** Runs the workload; one result per row. */
export async function runSse(ctx, fleet) {
  const streams = ctx.quick ? 40 : 200;
  const paths = fleet.map((entry) => {
    const { url, headers } = endpoint(ctx, entry, PATH);
    const target = new URL(url);
    return {
      entry,
      path: target.pathname + target.search,
      headers,
      client: new Client(target.origin, { connect: { ca: ctx.cert.cert } }),
      first: [],
      total: [],
      failures: 0,
      firstFailure: undefined,
    };
  });
  try {
    for (const path of paths) for (let i = 0; i < 10; i++) await streamOnce(path); // warm-up
    for (let i = 0; i < streams; i++) {
      for (const path of rotate(paths, i)) {
        const result = await streamOnce(path);
        if (!result.ok) {
          path.failures++;
          path.firstFailure ??= result.error;
          continue;
        }
        path.first.push(result.firstMs);
        path.total.push(result.totalMs);
      }
    }
  } finally {
    await Promise.all(paths.map((path) => path.client.close()));
  }
  return paths.map((path) => {
    const first = latencySummary(path.first);
    return {
      id: path.entry.row.id,
      label: path.entry.row.label,
      group: path.entry.row.group,
      streams,
      p50: first.p50,
      p99: first.p99,
      totalP50: latencySummary(path.total).p50,
      errors: path.failures,
      problems: path.failures ? [`${path.failures} failed: ${path.firstFailure}`] : [],
    };
  });
}

/** One stream: time to the first `data:` line and to the end of the answer. */
async function streamOnce(path) {
  const start = performance.now();
  try {
    const res = await path.client.request({
      path: path.path,
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...path.headers },
      body: INPUT,
    });
    let firstMs;
    let text = "";
    for await (const chunk of res.body) {
      text += chunk.toString("utf8");
      if (firstMs === undefined && text.includes("data:")) firstMs = performance.now() - start;
    }
    const totalMs = performance.now() - start;
    const events = text.split("data:").length - 1;
    if (res.statusCode !== 200 || events < 2) {
      return { ok: false, error: `HTTP ${res.statusCode}, ${events} events: ${text.slice(0, 120)}` };
    }
    return { ok: true, firstMs, totalMs };
  } catch (error) {
    return { ok: false, error: error?.message ?? String(error) };
  }
}
