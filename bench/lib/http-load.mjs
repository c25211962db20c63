// Closed-loop HTTP load: `concurrency` workers on as many keep-alive connections, each sending its next
// request as soon as the previous answer's body was read. Latency = request start to last body byte.
import { performance } from "node:perf_hooks";
import { undici } from "./deps.mjs";

/** A load generator bound to one origin with `concurrency` connections. */
export function createHttpLoad(origin, concurrency) {
  const pool = new undici.Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });

  /** Sends `total` requests built by `spec()`; returns latencies (ms), wall time (ms) and failures. */
  async function run(total, spec) {
    const latencies = new Float64Array(total);
    let next = 0;
    let failures = 0;
    let firstFailure;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const { path, method = "GET", headers, body, expectStatus = 200 } = spec(i);
        const start = performance.now();
        try {
          const res = await pool.request({ path, method, headers, body });
          await res.body.dump({ limit: Number.POSITIVE_INFINITY });
          if (res.statusCode !== expectStatus) {
            failures++;
            firstFailure ??= `HTTP ${res.statusCode}`;
          }
        } catch (error) {
          failures++;
          firstFailure ??= error?.message ?? String(error);
        }
        latencies[i] = performance.now() - start;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { latencies, wallMs: performance.now() - start, failures, firstFailure };
  }

  return { run, close: () => pool.close() };
}
