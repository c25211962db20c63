// A wrk workload over every row: a warm-up per row, then rounds in which the rows take turns (rotated order),
// each run between two stats snapshots of the row's proxy process. The median round is reported.
import { endpoint, measured, rotate } from "./fleet.mjs";
import { median } from "./stats.mjs";
import { runWrk, writeScript } from "./wrk.mjs";

/**
 * @param ctx the bench context (see run.mjs)
 * @param fleet the running rows
 * @param spec `{ name, path, method, headers, body, connections, seconds, warmSeconds, rounds, minBytes,
 *   answerBytes }`: the fal call (`path` on fal.run), the load, the smallest plausible answer in bytes (headers
 *   included) below which the row is flagged, and the answer body's size when MiB/s is wanted.
 */
export async function wrkWorkload(ctx, fleet, spec) {
  const scripts = new Map();
  const scriptFor = (entry) => {
    const { url, headers } = endpoint(ctx, entry, spec.path);
    const kind = entry.row.direct ? "direct" : "proxy";
    if (!scripts.has(kind)) {
      scripts.set(
        kind,
        writeScript(ctx.scratch, {
          name: `${spec.name}-${kind}`,
          method: spec.method,
          headers: { ...spec.headers, ...headers },
          body: spec.body,
        }),
      );
    }
    return { url, script: scripts.get(kind) };
  };
  const wrk = (entry, seconds) =>
    runWrk({ ...scriptFor(entry), connections: spec.connections, seconds, prefix: ctx.loadPrefix });

  for (const entry of fleet) await wrk(entry, spec.warmSeconds);
  const runs = new Map(fleet.map((entry) => [entry, []]));
  for (let round = 0; round < spec.rounds; round++) {
    for (const entry of rotate(fleet, round)) {
      ctx.log(`  ${spec.name} round ${round + 1}/${spec.rounds}: ${entry.row.id}`);
      runs.get(entry).push(await measured(entry, () => wrk(entry, spec.seconds)));
    }
  }
  return fleet.map((entry) => summarise(entry.row, runs.get(entry), spec.minBytes, spec.answerBytes));
}

/** One row's result: medians over the rounds, CPU summed over them, every round kept for the JSON file. */
function summarise(row, runs, minBytes, answerBytes) {
  const requests = runs.reduce((sum, r) => sum + r.requests, 0);
  const cpuUs = runs.some((r) => r.cpuUs !== undefined)
    ? runs.reduce((sum, r) => sum + (r.cpuUs ?? 0), 0)
    : undefined;
  const errors = runs.reduce((sum, r) => sum + r.errors, 0);
  const bytesPerRequest = Math.min(...runs.map((r) => r.bytesPerRequest));
  const problems = [];
  if (errors) problems.push(`${errors} errors (${runs.find((r) => r.errors)?.errorDetail})`);
  if (minBytes && bytesPerRequest < minBytes) problems.push(`answers of ${bytesPerRequest.toFixed(0)} B`);
  return {
    id: row.id,
    label: row.label,
    group: row.group,
    rps: median(runs.map((r) => r.rps)),
    // Completed answers only: wrk's byte count also holds the answers still in flight when a run stops.
    mibps: answerBytes ? (median(runs.map((r) => r.rps)) * answerBytes) / 1048576 : undefined,
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    requests,
    cpuUsPerRequest: cpuUs === undefined ? undefined : cpuUs / requests,
    // Share of one core the proxy used while measured: near 100 % means the proxy core was the limit.
    coreUse: cpuUs === undefined ? undefined : cpuUs / 1e6 / runs.reduce((sum, r) => sum + r.seconds, 0),
    peakRss: runs.at(-1)?.peakRss,
    errors,
    problems,
    runs,
  };
}
