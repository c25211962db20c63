// The soak's second part: many idle realtime tunnels on one falgate process (the standalone server with token
// keys, procs/falgate.mjs), to fal's realtime endpoint played by procs/realtime.mjs over TLS, opened by
// procs/tunnel-clients.mjs; then falgate is sent SIGTERM and every tunnel must end cleanly on both sides.
// Memory per idle tunnel is falgate's growth (after a GC) with them all open, over their number.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { check, describeHandles, sleep } from "./soak-http.mjs";

const APP = "fal-ai/echo";
/** Tunnels opened and closed before the baseline: first-use costs (modules, TLS context) are not per tunnel. */
const WARM_TUNNELS = 100;
/** The close code falgate sends both sides when it shuts down (docs/realtime.md). */
const GOING_AWAY = 1001;
/** Descriptors asked for beyond the sockets: Node's own, the listener, the IPC channel. */
const FD_HEADROOM = 1_024;
/** Descriptors a process needs beyond its sockets (falgate has about 25 when idle). */
const FD_SPARE = 64;

/**
 * Opens `tunnels` tunnels, `batch` at a time, spread over as many principals as falgate's per-principal cap
 * `cap` needs (`<prefix>-0`, `-1`, ...), measures falgate with them idle, then shuts falgate down. Returns the
 * figures and the `checks`. Where the open-files limit cannot be raised (no CAP_SYS_RESOURCE: the hard limit
 * stays), falgate gets as many tunnels as its limit holds (two sockets each), and the report says so.
 * `falPlain` puts fal's side on plain `ws:` instead of TLS (not what fal is: to tell TLS's share of the memory).
 */
export async function soakTunnels(ctx, { tunnels: wanted, batch, cap, holdMs, falPlain = false }) {
  const { log } = ctx;
  const key = randomBytes(24).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  const started = [];
  try {
    log("tunnels: starting fal's realtime endpoint, falgate standalone (tunnel on) and the clients");
    const fal = await ctx.spawnChild(
      "realtime",
      { certFile: ctx.cert.certFile, keyFile: ctx.cert.keyFile, key, tls: !falPlain },
      { role: "load", fdLimit: wanted + FD_HEADROOM },
    );
    started.push(fal);
    const falgate = await ctx.spawnChild(
      "falgate",
      {
        variant: "standalone",
        upstream: fal.info.url,
        key,
        tunnelSecret: secret,
        maxTunnelsPerPrincipal: cap,
      },
      { role: "proxy", fdLimit: 2 * wanted + FD_HEADROOM },
    );
    started.push(falgate);
    const falgateFiles = fdLimit(falgate.pid);
    let tunnels = wanted;
    let fdNote;
    if (falgateFiles !== undefined && falgateFiles < 2 * wanted + FD_SPARE) {
      tunnels = Math.floor((falgateFiles - FD_SPARE) / 2);
      fdNote =
        `falgate's open-files limit is ${falgateFiles} and could not be raised (the hard limit; raising it needs ` +
        `CAP_SYS_RESOURCE), so ${tunnels.toLocaleString("en")} tunnels instead of ${wanted.toLocaleString("en")}`;
      log(`tunnels: ${fdNote}`);
    }
    const principals = cap === 0 ? 1 : Math.ceil(tunnels / cap);
    const clients = await ctx.spawnChild(
      "tunnel-clients",
      { secret, wsUrl: falgate.info.wsUrl, app: APP },
      { role: "load", fdLimit: wanted + FD_HEADROOM },
    );
    started.push(clients);
    for (const [name, proc, needed] of [
      ["falgate", falgate, 2 * tunnels],
      ["fal's endpoint", fal, tunnels],
      ["the clients", clients, tunnels],
    ]) {
      const limit = fdLimit(proc.pid);
      if (limit !== undefined && limit < needed + FD_SPARE) {
        throw new Error(
          `${name} may open only ${limit} files, ${needed} sockets are needed: run as root or raise ulimit -n`,
        );
      }
    }
    const result = await soak(ctx, { fal, falgate, clients }, { tunnels, batch, principals, cap, holdMs });
    return { ...result, wanted, fdNote, falTls: !falPlain };
  } finally {
    for (const proc of started.reverse()) await proc.stop();
  }
}

async function soak(ctx, { fal, falgate, clients }, { tunnels, batch, principals, cap, holdMs }) {
  const { log } = ctx;
  log(`tunnels: warm-up, ${WARM_TUNNELS} tunnels opened and closed`);
  const warm = await clients.invoke("open", {
    count: WARM_TUNNELS,
    batch,
    principals: WARM_TUNNELS,
    prefix: "warm",
  });
  if (warm.failed) throw new Error(`warm-up: ${warm.failed} tunnels did not open: ${warm.firstError}`);
  await clients.invoke("closeAll", { timeoutMs: 10_000 });
  await until(async () => (await fal.probe()).info.open === 0, 10_000);
  await sleep(1_000);
  const base = await falgate.probe({ gc: true, handles: true });
  const falBase = (await fal.probe()).info;
  await falgate.resetPeak();

  log(`tunnels: opening ${tunnels.toLocaleString("en")}, ${batch} at a time, ${principals} principals`);
  const opened = await clients.invoke("open", { count: tunnels, batch, principals }, 900_000);
  log(
    `tunnels: ${opened.opened.toLocaleString("en")} open in ${(opened.ms / 1000).toFixed(1)} s` +
      (opened.failed ? `, ${opened.failed} failed: ${opened.firstError}` : ""),
  );
  // Each tunnel's upstream side opens after its client side: wait for fal to see them all.
  const upstreamOpen = await until(async () => (await fal.probe()).info.open >= opened.opened, 30_000);
  await sleep(holdMs);
  const open = await falgate.probe({ gc: true, handles: true });
  const peak = await falgate.stats();
  const falOpen = (await fal.probe()).info;
  const echo = await clients.invoke("echo", { every: 100 });

  log("tunnels: SIGTERM to falgate");
  const t0 = performance.now();
  process.kill(falgate.pid, "SIGTERM");
  const exit = await Promise.race([falgate.exited, sleep(30_000).then(() => undefined)]);
  const shutdownMs = performance.now() - t0;
  const clientEnd = await clients.invoke("closed", { timeoutMs: 10_000 });
  await until(async () => (await fal.probe()).info.open === 0, 10_000);
  const falEnd = (await fal.probe()).info;
  const falCloses = diffCounts(falEnd.closes, falBase.closes);

  const n = opened.opened;
  const per = (field) => (n ? (open[field] - base[field]) / n : undefined);
  const result = {
    tunnels: n,
    target: tunnels,
    failed: opened.failed,
    firstError: opened.firstError,
    openSeconds: opened.ms / 1000,
    batch,
    principals,
    cap,
    upstreamOpen: falOpen.open,
    upstreamAllOpen: upstreamOpen,
    rss: { before: base.rss, open: open.rss, peak: peak.peakRss },
    heapUsed: { before: base.heapUsed, open: open.heapUsed },
    external: { before: base.external, open: open.external },
    perTunnel: {
      rss: per("rss"),
      heapUsed: per("heapUsed"),
      external: per("external"),
      fds: per("fds"),
    },
    handles: { before: describeHandles(base), open: describeHandles(open) },
    echo,
    shutdown: { ms: shutdownMs, exitCode: exit?.code, signal: exit?.signal, exited: exit !== undefined },
    clientCloses: clientEnd.closes,
    clientsStillOpen: clientEnd.open,
    clientErrors: clientEnd.errors,
    upstreamCloses: falCloses,
    upstreamStillOpen: falEnd.open,
  };
  result.checks = [
    check(
      `${tunnels.toLocaleString("en")} tunnels opened`,
      n === tunnels && opened.failed === 0,
      () => `${n} opened, ${opened.failed} failed${opened.firstError ? ` (${opened.firstError})` : ""}`,
    ),
    check("every tunnel's upstream side open", upstreamOpen, () => `fal saw ${falOpen.open} open`),
    check(
      "the sampled tunnels echo",
      echo.failed === 0,
      () => `${echo.tried - echo.failed} of ${echo.tried}`,
    ),
    check("falgate exits 0 on SIGTERM", exit?.code === 0, () =>
      exit ? `code ${exit.code}, signal ${exit.signal}` : "still running after 30 s",
    ),
    check(
      `every client got ${GOING_AWAY}`,
      (clientEnd.closes[GOING_AWAY] ?? 0) === n && clientEnd.open === 0,
      () => `closes ${JSON.stringify(clientEnd.closes)}, ${clientEnd.open} still open`,
    ),
    check(
      `fal's side got ${GOING_AWAY} on every tunnel`,
      (falCloses[GOING_AWAY] ?? 0) === n && falEnd.open === 0,
      () => `closes ${JSON.stringify(falCloses)}, ${falEnd.open} still open`,
    ),
  ];
  return result;
}

/** Polls `condition` every 100 ms until it holds (true) or `ms` passed (false). */
async function until(condition, ms) {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await sleep(100);
  }
  return condition();
}

function diffCounts(after, before) {
  const out = {};
  for (const [code, count] of Object.entries(after)) {
    const delta = count - (before[code] ?? 0);
    if (delta) out[code] = delta;
  }
  return out;
}

/** The soft limit on open files of another process (/proc/<pid>/limits), or undefined off Linux. */
function fdLimit(pid) {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    return line?.[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(line?.[1]);
  } catch {
    return undefined;
  }
}
