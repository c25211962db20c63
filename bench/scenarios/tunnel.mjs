// The realtime tunnel: binary frames to mock-fal's realtime echo app (`fal-ai/echo`, answers the exact
// bytes), direct to the mock (plain and TLS, `Authorization: Key`) and through falgate's tunnel (the standalone
// server with token keys; a falgate token in the URL, the key added upstream over TLS).
//   - round trips: one 64 B frame in flight;
//   - pipelined: 16 frames in flight (64 B and 64 KiB);
//   - 200 connections: open them all at once, echo one frame on each, time both and the proxy's RSS.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { rotate } from "../lib/fleet.mjs";
import { latencySummary, median } from "../lib/stats.mjs";
import { closeSocket, openSocket, roundTrips, windowed } from "../lib/ws-load.mjs";
import { tunnelClient } from "../procs/falgate.mjs";

const APP = "fal-ai/echo";
export const WINDOW = 16;
const CONNECTIONS = 200;

/**
 * Runs the workload for the selected `rows` (direct, direct-tls and falgate-standalone take part; the
 * tunnel gets its own falgate process). Returns `{ rows, crowd }`.
 */
export async function runTunnel(ctx, rows) {
  const q = ctx.quick;
  const sizes = [
    { label: "64 B", bytes: 64, rtts: q ? 300 : 2_000, frames: q ? 3_000 : 20_000 },
    { label: "64 KiB", bytes: 64 * 1024, rtts: 0, frames: q ? 300 : 1_500 },
  ];
  const rounds = ctx.timing.rounds;
  const secret = randomBytes(32).toString("base64url");
  const client = await tunnelClient(secret);
  const { upstream } = ctx;
  const directHeaders = { authorization: `Key ${upstream.key}` };
  const paths = [];
  const wanted = new Set(rows.map((row) => row.id));
  if (wanted.has("direct")) {
    const row = rows.find((r) => r.id === "direct");
    paths.push({
      row,
      open: () => openSocket(`${upstream.wsUrl}/${APP}/realtime`, { headers: directHeaders }),
    });
  }
  if (wanted.has("direct-tls")) {
    const row = rows.find((r) => r.id === "direct-tls");
    const url = `${upstream.wssUrl}/${APP}/realtime`;
    paths.push({ row, open: () => openSocket(url, { headers: directHeaders, ca: ctx.cert.cert }) });
  }
  let proxy;
  if (wanted.has("falgate-standalone")) {
    ctx.log("  starting the tunnel's falgate");
    proxy = await ctx.spawnChild(
      "falgate",
      { variant: "standalone", upstream: upstream.httpsUrl, key: upstream.key, tunnelSecret: secret },
      { role: "proxy", execArgv: ctx.profileArgv("falgate-tunnel") },
    );
    paths.push({
      row: { id: "falgate-tunnel", label: "falgate tunnel (standalone)", group: "falgate" },
      proxy,
      // The token is minted before the clock starts: the browser fetched it from the app beforehand.
      prepare: () => client.url(proxy.info.wsUrl, APP),
      open: (url) => openSocket(url),
    });
  }
  for (const path of paths) path.prepare ??= async () => undefined;
  const results = paths.map((path) => ({ id: path.row.id, label: path.row.label, group: path.row.group }));
  try {
    for (const path of paths) path.socket = await path.open(await path.prepare());
    for (const size of sizes) {
      const payload = randomBytes(size.bytes);
      const perRound = { rtts: Math.ceil(size.rtts / rounds), frames: Math.ceil(size.frames / rounds) };
      for (const path of paths) {
        if (size.rtts) await roundTrips(path.socket, payload, Math.min(200, size.rtts)); // warm-up
        await windowed(path.socket, payload, Math.min(500, size.frames), WINDOW);
      }
      const acc = paths.map(() => ({ latencies: [], rates: [], cpuRtt: 0, cpuFrames: 0 }));
      for (let round = 0; round < rounds; round++) {
        for (const path of rotate(paths, round)) {
          ctx.log(`  tunnel ${size.label} round ${round + 1}/${rounds}: ${path.row.id}`);
          const a = acc[paths.indexOf(path)];
          const before = await path.proxy?.stats();
          if (size.rtts) a.latencies.push(...(await roundTrips(path.socket, payload, perRound.rtts)));
          const mid = await path.proxy?.stats();
          const ms = await windowed(path.socket, payload, perRound.frames, WINDOW);
          const after = await path.proxy?.stats();
          a.rates.push(perRound.frames / (ms / 1000));
          if (path.proxy) {
            a.cpuRtt += mid.cpuUs - before.cpuUs;
            a.cpuFrames += after.cpuUs - mid.cpuUs;
          }
        }
      }
      paths.forEach((path, i) => {
        const a = acc[i];
        const key = size.bytes === 64 ? "small" : "large";
        const rtt = size.rtts ? latencySummary(a.latencies) : undefined;
        results[i][key] = {
          frame: size.label,
          rtts: size.rtts ? perRound.rtts * rounds : 0,
          rttP50: rtt?.p50,
          rttP99: rtt?.p99,
          framesPerSec: median(a.rates),
          mibps: (median(a.rates) * size.bytes) / 1048576,
          cpuUsPerRtt: path.proxy && size.rtts ? a.cpuRtt / (perRound.rtts * rounds) : undefined,
          // Each echo crosses the tunnel twice (client → fal, fal → client).
          cpuUsPerFrame: path.proxy ? a.cpuFrames / (perRound.frames * rounds) : undefined,
        };
      });
    }
    await Promise.all(paths.map((path) => closeSocket(path.socket)));
    for (const [i, path] of paths.entries()) {
      ctx.log(`  tunnel ${CONNECTIONS} connections: ${path.row.id}`);
      results[i].crowd = await crowd(path, CONNECTIONS);
    }
  } finally {
    await Promise.all(paths.map((path) => path.socket && closeSocket(path.socket)));
    await proxy?.stop();
  }
  return results;
}

/** Opens `count` connections at once, echoes one frame on each, and closes them; times and proxy RSS. */
async function crowd(path, count) {
  const urls = await Promise.all(Array.from({ length: count }, () => path.prepare()));
  const settled = await path.proxy?.resetPeak();
  const payload = randomBytes(64);
  const start = performance.now();
  const opened = await Promise.allSettled(urls.map((url) => path.open(url)));
  const openMs = performance.now() - start;
  const sockets = opened.filter((o) => o.status === "fulfilled").map((o) => o.value);
  const failedOpen = opened.length - sockets.length;
  const echoStart = performance.now();
  const echoed = await Promise.allSettled(sockets.map((socket) => roundTrips(socket, payload, 1)));
  const echoMs = performance.now() - echoStart;
  const failedEcho = echoed.filter((e) => e.status === "rejected").length;
  const open = await path.proxy?.stats();
  await Promise.all(sockets.map((socket) => closeSocket(socket)));
  const problems = [];
  if (failedOpen)
    problems.push(`${failedOpen} did not open: ${opened.find((o) => o.reason)?.reason?.message}`);
  if (failedEcho) problems.push(`${failedEcho} echoes failed`);
  return {
    connections: count,
    openMs,
    echoMs,
    rssWarm: settled?.rss,
    rssOpen: open?.rss,
    peakRss: open?.peakRss,
    growth: open ? open.peakRss - settled.rss : undefined,
    errors: failedOpen + failedEcho,
    problems,
  };
}
