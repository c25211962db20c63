// Scenario 4: the realtime tunnel. Binary frames to mock-fal's echo app, direct (Authorization: Key) vs
// through falgate's tunnel (falgate token in the URL, key added upstream).
import { randomBytes } from "node:crypto";
import { distUrl } from "../lib/deps.mjs";
import { spawnChild, statsDelta } from "../lib/spawn.mjs";
import { fmt, latencySummary } from "../lib/stats.mjs";
import { closeSocket, openSocket, roundTrips, windowed } from "../lib/ws-load.mjs";

const APP = "fal-ai/echo";
const WINDOW = 16;

/** Loads falgate's token issuer from the built core (the public export, or the module behind it). */
async function tokenIssuer(secret) {
  const core = await import(distUrl("core"));
  const create = core.createTokenIssuer ?? (await import(new URL("tokens/index.js", distUrl("core")).href)).createTokenIssuer;
  return create({ secret });
}

/** Runs scenario 4 and returns its rows (empty with a note when the tunnel is not built yet). */
export async function runRealtime({ quick, profileArgv }) {
  const sizes = [
    { label: "64 B", bytes: 64, rtt: quick ? 500 : 2_000, stream: quick ? 5_000 : 20_000 },
    { label: "64 KiB", bytes: 64 * 1024, rtt: quick ? 150 : 500, stream: quick ? 500 : 2_000 },
  ];
  const secret = randomBytes(32).toString("base64url");
  const issuer = await tokenIssuer(secret);
  const mock = await spawnChild("mock", {});
  let proxy;
  const rows = [];
  try {
    proxy = await spawnChild(
      "proxy",
      { transport: "undici", upstream: mock.info.url, key: mock.info.key, tunnelSecret: secret },
      { execArgv: profileArgv },
    );
    const wsBase = proxy.info.url.replace(/^http/, "ws");
    const paths = [
      { id: "direct", label: "direct to mock-fal", open: () => openSocket(`${mock.info.wsUrl}/${APP}/realtime`, { authorization: `Key ${mock.info.key}` }) },
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
      for (const path of paths) {
        const socket = await path.open();
        try {
          await roundTrips(socket, payload, Math.min(200, size.rtt)); // warm-up
          const before = await proxy.stats();
          const latencies = await roundTrips(socket, payload, size.rtt);
          const mid = await proxy.stats();
          const ms = await windowed(socket, payload, size.stream, WINDOW);
          const after = await proxy.stats();
          const { p50, p99 } = latencySummary(latencies);
          const tunnel = path.id === "tunnel";
          rows.push({
            path: path.id,
            label: path.label,
            size: size.label,
            rtts: size.rtt,
            p50,
            p99,
            frames: size.stream,
            framesPerSec: size.stream / (ms / 1000),
            mibps: (size.stream * size.bytes) / 1048576 / (ms / 1000),
            // Each echo crosses the tunnel twice (client → fal, fal → client).
            proxyCpuUsPerRtt: tunnel ? statsDelta(before, mid).cpuUs / size.rtt : undefined,
            proxyCpuUsPerFrame: tunnel ? statsDelta(mid, after).cpuUs / size.stream : undefined,
            proxyPeakRss: tunnel ? after.peakRss : undefined,
          });
        } finally {
          await closeSocket(socket);
        }
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
