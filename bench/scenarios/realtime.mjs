// Scenario 4: the realtime tunnel. Binary frames to mock-fal's echo app, direct (Authorization: Key) vs
// through falgate's tunnel (falgate token in the URL, key added upstream).
import { randomBytes } from "node:crypto";
import { distUrl } from "../lib/deps.mjs";
import { spawnChild, statsDelta } from "../lib/spawn.mjs";
import { fmt, latencySummary } from "../lib/stats.mjs";
import { closeSocket, openSocket, roundTrips, windowed } from "../lib/ws-load.mjs";

const APP = "fal-ai/echo";
const WINDOW = 16;
const ROUNDS = 3;

/** Runs scenario 4 and returns its rows. */
export async function runRealtime({ quick, profileArgv = () => [] }) {
  const sizes = [
    { label: "64 B", bytes: 64, rtt: quick ? 500 : 2_000, stream: quick ? 5_000 : 20_000 },
    { label: "64 KiB", bytes: 64 * 1024, rtt: quick ? 150 : 500, stream: quick ? 500 : 2_000 },
  ];
  const secret = randomBytes(32).toString("base64url");
  const { createTokenIssuer } = await import(distUrl("core"));
  // The bench mints with the proxy's secret, as an app's token route would.
  const issuer = createTokenIssuer({ secret });
  const mock = await spawnChild("mock", {});
  let proxy;
  const rows = [];
  try {
    proxy = await spawnChild(
      "proxy",
      { transport: "undici", upstream: mock.info.url, key: mock.info.key, tunnelSecret: secret },
      { execArgv: profileArgv("realtime-tunnel") },
    );
    const wsBase = proxy.info.url.replace(/^http/, "ws");
    const paths = [
      {
        id: "direct",
        label: "direct to mock-fal",
        open: () =>
          openSocket(`${mock.info.wsUrl}/${APP}/realtime`, { authorization: `Key ${mock.info.key}` }),
      },
      {
        id: "tunnel",
        label: "falgate tunnel",
        open: async () => {
          // Tokens are single-use by default: one per connection, as the official client fetches them.
          const { token } = await issuer.issue({ subject: "bench", apps: [APP] });
          return openSocket(`${wsBase}${proxy.info.path}/${APP}/realtime?fal_jwt_token=${token}`);
        },
      },
    ];
    for (const size of sizes) {
      const payload = randomBytes(size.bytes);
      const runs = [];
      for (const path of paths)
        runs.push({ path, socket: await path.open(), latencies: [], ms: 0, cpuRtt: 0, cpuFrames: 0 });
      try {
        for (const run of runs) await roundTrips(run.socket, payload, Math.min(200, size.rtt)); // warm-up
        // The paths take turns, ROUNDS times, so a burst of outside load hits both alike.
        const rtts = Math.ceil(size.rtt / ROUNDS);
        const frames = Math.ceil(size.stream / ROUNDS);
        for (let round = 0; round < ROUNDS; round++) {
          for (const run of runs) {
            const before = await proxy.stats();
            run.latencies.push(...(await roundTrips(run.socket, payload, rtts)));
            const mid = await proxy.stats();
            run.ms += await windowed(run.socket, payload, frames, WINDOW);
            const after = await proxy.stats();
            run.cpuRtt += statsDelta(before, mid).cpuUs;
            run.cpuFrames += statsDelta(mid, after).cpuUs;
          }
        }
        const { peakRss } = await proxy.stats();
        for (const run of runs) {
          const { p50, p99 } = latencySummary(run.latencies);
          const tunnel = run.path.id === "tunnel";
          rows.push({
            path: run.path.id,
            label: run.path.label,
            size: size.label,
            rtts: rtts * ROUNDS,
            p50,
            p99,
            frames: frames * ROUNDS,
            framesPerSec: (frames * ROUNDS) / (run.ms / 1000),
            mibps: (frames * ROUNDS * size.bytes) / 1048576 / (run.ms / 1000),
            // Each echo crosses the tunnel twice (client → fal, fal → client).
            proxyCpuUsPerRtt: tunnel ? run.cpuRtt / (rtts * ROUNDS) : undefined,
            proxyCpuUsPerFrame: tunnel ? run.cpuFrames / (frames * ROUNDS) : undefined,
            proxyPeakRss: tunnel ? peakRss : undefined,
          });
        }
      } finally {
        await Promise.all(runs.map((run) => closeSocket(run.socket)));
      }
    }
  } finally {
    await proxy?.stop();
    await mock.stop();
  }
  for (const r of rows) {
    const direct = rows.find((d) => d.path === "direct" && d.size === r.size);
    if (r.path !== "direct" && direct) r.addedP50 = r.p50 - direct.p50;
  }
  return rows;
}

/** Markdown table of scenario 4. */
export function realtimeTable(rows) {
  const lines = [
    `| path | frame | round trips | RTT p50 ms | RTT p99 ms | added p50 ms | frames/s (window ${WINDOW}) | MiB/s each way | proxy CPU µs/round trip | proxy CPU µs/echoed frame | proxy peak RSS MiB |`,
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.size} | ${r.rtts} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${fmt(r.addedP50, 3)} | ${fmt(r.framesPerSec, 0)} | ${fmt(r.mibps, 1)} | ${fmt(r.proxyCpuUsPerRtt, 0)} | ${fmt(r.proxyCpuUsPerFrame, 0)} | ${r.proxyPeakRss ? (r.proxyPeakRss / 1048576).toFixed(0) : "–"} |`,
    );
  }
  return lines.join("\n");
}
