// The running rows: one child process per proxy row, all up at once so that the rows can take turns.
import { statsDelta } from "./spawn.mjs";

/**
 * Starts the process of every row that has one (pinned to the proxy core), one after the other.
 * `extra` is merged into each row's config (e.g. the tunnel's token secret).
 */
export async function startFleet(ctx, rows, extra = {}) {
  const fleet = [];
  try {
    for (const row of rows) {
      ctx.log(`  starting ${row.id}`);
      fleet.push({ row, proc: row.proc ? await startRow(ctx, row, extra) : undefined });
    }
  } catch (error) {
    await stopFleet(fleet);
    throw error;
  }
  return fleet;
}

function startRow(ctx, row, extra) {
  const profile = ctx.profileArgv(row.id);
  const config = {
    ...row.config,
    upstream: ctx.upstream.httpsUrl,
    key: ctx.upstream.key,
    ...(row.needsRedis ? { redisUrl: ctx.redisUrl } : {}),
    ...extra,
  };
  // The child of a row under `next start` supervises the Next process: the profile is of that process.
  const supervised = row.underNext === true;
  if (supervised) config.nodeArgs = profile;
  return ctx.spawnChild(row.proc, config, { role: "proxy", execArgv: supervised ? [] : profile });
}

/** Stops every process of the fleet. */
export async function stopFleet(fleet) {
  await Promise.all(fleet.map((entry) => entry.proc?.stop()));
}

/**
 * Where a client sends a call to fal `path` (e.g. `/fal-ai/echo`) through this row: the upstream itself with
 * the key (direct rows) or the proxy with the target in `x-fal-target-url`.
 */
export function endpoint(ctx, entry, path) {
  const { row, proc } = entry;
  if (row.direct) {
    const origin = row.direct === "https" ? ctx.upstream.httpsUrl : ctx.upstream.httpUrl;
    return { url: origin + path, headers: { authorization: `Key ${ctx.upstream.key}` } };
  }
  return { url: proc.info.url, headers: { "x-fal-target-url": `https://fal.run${path}` } };
}

/** Runs `work()` between two stats snapshots of the row's process; adds `cpuUs` and `peakRss` to its result. */
export async function measured(entry, work) {
  const before = await entry.proc?.stats();
  const result = await work();
  if (!entry.proc) return result;
  const delta = statsDelta(before, await entry.proc.stats());
  return { ...result, cpuUs: delta.cpuUs, peakRss: delta.peakRss, rss: delta.rss };
}

/** Row order of round `round`: rotated, so no row is always first after another row's burst. */
export function rotate(list, round) {
  const k = round % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
