// The soak's first part: a fixed number of small proxied calls through falgate's standalone server (the bench's
// `falgate-standalone` row, procs/falgate.mjs) to the bench's TLS upstream, wrk at a modest concurrency. The
// falgate process is sampled every second from inside (RSS, heap); its handles and descriptors are counted
// after a warm-up and again after the load, each time once every connection has closed.
import { performance } from "node:perf_hooks";
import { median, mib } from "./stats.mjs";
import { runWrk, writeScript } from "./wrk.mjs";

const BODY = JSON.stringify({ prompt: "a lighthouse at dusk, oil painting", seed: 42, num_images: 1 });
/** The upstream's fast echo route (procs/upstream.mjs): the answer is the body, as mock-fal's echo app. */
const TARGET = "https://fal.run/bench/echo";
/** The echoed body plus a minimal status line and headers: shorter answers are counted as errors. */
const MIN_ANSWER_BYTES = BODY.length + 60;
/** wrk runs of at most this long: progress, and the RSS known against the number of calls. */
const SEGMENT_SECONDS = 10;
/** Idle upstream connections close after this long (the upstream's keep-alive), so none outlive a settle. */
const UPSTREAM_KEEP_ALIVE_MS = 4_000;
/** The wait after the load before the handles are counted: beyond the upstream's keep-alive. */
const SETTLE_MS = UPSTREAM_KEEP_ALIVE_MS + 2_000;
/** How long the handles may take to come back to the count before the load. */
const HANDLES_BACK_MS = 20_000;

/**
 * Runs `calls` proxied calls after `warmup` calls, at `connections` connections. Returns the figures and the
 * samples; `checks` lists the invariants (no error, every call answered in full, handles and descriptors back).
 */
export async function soakHttp(ctx, { calls, warmup, connections }) {
  const { log } = ctx;
  log("http: starting the upstream (mock-fal over TLS, fast echo route) and falgate standalone");
  const upstream = await ctx.spawnChild(
    "upstream",
    { certFile: ctx.cert.certFile, keyFile: ctx.cert.keyFile, keepAliveMs: UPSTREAM_KEEP_ALIVE_MS },
    { role: "load" },
  );
  let falgate;
  try {
    falgate = await ctx.spawnChild("falgate", {
      variant: "standalone",
      upstream: upstream.info.httpsUrl,
      key: upstream.info.key,
    });
    return await soak(ctx, falgate, { calls, warmup, connections });
  } finally {
    await falgate?.stop();
    await upstream.stop();
  }
}

async function soak(ctx, falgate, { calls, warmup, connections }) {
  const { log } = ctx;
  const script = writeScript(ctx.scratch, {
    name: "soak-json",
    method: "POST",
    headers: { "content-type": "application/json", "x-fal-target-url": TARGET },
    body: BODY,
    countNon2xx: true,
  });
  const wrk = (seconds) =>
    runWrk({ url: falgate.info.url, script, connections, seconds, prefix: ctx.loadPrefix });
  const fresh = await falgate.probe({ gc: true, handles: true });

  log(`http: warm-up, ${warmup.toLocaleString("en")} calls`);
  const warm = await runCalls(wrk, warmup, 1_000, () => undefined);
  await sleep(SETTLE_MS);
  const before = await falgate.probe({ gc: true, handles: true });
  await falgate.resetPeak();
  const cpuBefore = (await falgate.stats()).cpuUs;

  log(`http: ${calls.toLocaleString("en")} calls at ${connections} connections`);
  const samples = [];
  const marks = [];
  const t0 = performance.now();
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = falgate.probe().then(
      (probe) => samples.push({ s: (performance.now() - t0) / 1000, ...memory(probe) }),
      () => undefined,
    );
  }, 1_000);
  let main;
  try {
    main = await runCalls(wrk, calls, warm.rate, (done, segment) => {
      marks.push({ s: (performance.now() - t0) / 1000, calls: done });
      const last = samples.at(-1);
      log(
        `http: ${done.toLocaleString("en")} calls, ${Math.round(segment.rps)} req/s` +
          (last ? `, RSS ${mib(last.rss)} MiB, heap ${mib(last.heapUsed)} MiB` : ""),
      );
    });
  } finally {
    clearInterval(sampler);
    await sampling;
  }
  const seconds = (performance.now() - t0) / 1000;
  const peak = await falgate.stats();

  log("http: load stopped; waiting for every connection to close");
  await sleep(SETTLE_MS);
  const waitStart = performance.now();
  let after = await falgate.probe({ gc: true, handles: true });
  while (!sameHandles(before, after) && performance.now() - waitStart < HANDLES_BACK_MS) {
    await sleep(500);
    after = await falgate.probe({ gc: true, handles: true });
  }
  const backMs = performance.now() - waitStart + SETTLE_MS;

  const underLoad = samples.filter((sample) => sample.s <= seconds);
  const rate = main.requests / seconds;
  const result = {
    calls: main.requests,
    target: calls,
    warmupCalls: warm.requests,
    connections,
    seconds,
    rate,
    segments: main.segments.length,
    errors: main.errors,
    non2xx: main.non2xx,
    socketErrors: main.socketErrors,
    shortAnswers: main.shortAnswers + warm.shortAnswers,
    warmupErrors: warm.errors,
    // falgate's own CPU time per call, and over the run's length (near 100 %: its core was the limit).
    cpuUsPerCall: (peak.cpuUs - cpuBefore) / main.requests,
    coreUse: (peak.cpuUs - cpuBefore) / 1e6 / seconds,
    latency: {
      p50: median(main.segments.map((s) => s.p50)),
      p99: Math.max(...main.segments.map((s) => s.p99)),
    },
    rss: {
      fresh: fresh.rss,
      ...memoryFigures(underLoad, "rss", { seconds, rate, before, after }),
      peak: Math.max(peak.peakRss, ...underLoad.map((sample) => sample.rss)),
    },
    heap: memoryFigures(underLoad, "heapUsed", { seconds, rate, before, after }),
    // RSS and heap at every tenth of the calls: flat or not, at a glance.
    tenths: tenths(underLoad, marks, calls),
    handles: {
      fresh: handleCounts(fresh),
      before: handleCounts(before),
      after: handleCounts(after),
      backMs,
    },
    samples: underLoad,
    marks,
  };
  result.checks = [
    check(
      "no error (non-2xx, socket errors, short answers)",
      result.errors + result.shortAnswers === 0,
      () =>
        `${result.non2xx} non-2xx, ${result.socketErrors} socket errors, ${result.shortAnswers} short answers`,
    ),
    check(
      `at least ${calls.toLocaleString("en")} calls`,
      result.calls >= calls,
      () => `${result.calls} calls`,
    ),
    check(
      "handles and descriptors back to the count before the load",
      sameHandles(before, after),
      () => `before ${describeHandles(before)}; after ${describeHandles(after)}`,
    ),
  ];
  return result;
}

/**
 * Runs wrk in segments of at most SEGMENT_SECONDS until `target` calls were answered, sizing each segment
 * from the rate of the previous one (starting from `rate`); `onSegment(done, segment)` after each.
 */
async function runCalls(wrk, target, rate, onSegment) {
  const segments = [];
  let done = 0;
  let estimate = rate;
  while (done < target) {
    const seconds = Math.max(1, Math.min(SEGMENT_SECONDS, Math.ceil((target - done) / estimate)));
    const segment = await wrk(seconds);
    if (segment.requests === 0) throw new Error(`wrk answered no call in ${seconds} s`);
    segments.push(segment);
    done += segment.requests;
    estimate = segment.rps;
    onSegment(done, segment);
  }
  const sum = (field) => segments.reduce((total, s) => total + s[field], 0);
  return {
    requests: done,
    segments,
    rate: done / sum("seconds"),
    non2xx: sum("non2xx"),
    socketErrors: sum("socketErrors"),
    errors: sum("non2xx") + sum("socketErrors"),
    shortAnswers: segments.filter((s) => s.bytesPerRequest < MIN_ANSWER_BYTES).length,
  };
}

/**
 * One memory figure (`rss` or `heapUsed`) of the run from its samples under load: idle before and after (the
 * probes after a GC), the first, largest and last sample, the mean over each half, and the least-squares slope
 * over the second half, per second and per 100,000 calls at the run's mean `rate`.
 */
export function memoryFigures(samples, field, { seconds, rate, before, after }) {
  const firstHalf = samples.filter((sample) => sample.s < seconds / 2);
  const secondHalf = samples.filter((sample) => sample.s >= seconds / 2);
  const perSecond = slope(secondHalf, field);
  return {
    idleBefore: before[field],
    idleAfter: after[field],
    start: samples[0]?.[field],
    peak: Math.max(...samples.map((sample) => sample[field])),
    end: samples.at(-1)?.[field],
    firstHalfMean: mean(firstHalf, field),
    secondHalfMean: mean(secondHalf, field),
    slopePerSecond: perSecond,
    slopePer100k: (perSecond / rate) * 100_000,
  };
}

/** The sample taken when each tenth of `target` calls had been answered (at the end of the wrk run that got there). */
export function tenths(samples, marks, target) {
  const out = [];
  for (let k = 1; k <= 10; k++) {
    const mark = marks.find((m) => m.calls >= (target * k) / 10);
    if (!mark) break;
    const sample = samples.reduce((best, s) =>
      Math.abs(s.s - mark.s) < Math.abs(best.s - mark.s) ? s : best,
    );
    out.push({ calls: mark.calls, rss: sample.rss, heapUsed: sample.heapUsed });
  }
  return out;
}

function memory({ rss, heapUsed, heapTotal, external, arrayBuffers }) {
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
}

function mean(samples, field) {
  return samples.length ? samples.reduce((sum, s) => sum + s[field], 0) / samples.length : undefined;
}

/** Least-squares slope of `field` over time (per second). */
function slope(samples, field) {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((sum, s) => sum + s.s, 0) / n;
  const my = samples.reduce((sum, s) => sum + s[field], 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.s - mx) * (s[field] - my);
    den += (s.s - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The active handles and requests by type, and the open descriptors, of a `probe({ handles: true })`. */
function handleCounts(probe) {
  return { resources: probe.resources, fds: probe.fds };
}

/** Whether two `probe({ handles: true })` answers hold the same descriptors and handles of each type. */
export function sameHandles(a, b) {
  return a.fds === b.fds && describeResources(a.resources) === describeResources(b.resources);
}

/** `TCPServerWrap 1, Timeout 2, ...` sorted by type. */
export function describeResources(resources = {}) {
  return Object.entries(resources)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, count]) => `${type} ${count}`)
    .join(", ");
}

/** Handles by type and descriptors of a `probe({ handles: true })`, in one line. */
export function describeHandles(probe) {
  return `${describeResources(probe.resources)}; ${probe.fds} fds`;
}

/** One invariant of the soak: `detail` is computed now, whether it passed or not. */
export function check(name, ok, detail) {
  return { name, ok, detail: detail() };
}

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
