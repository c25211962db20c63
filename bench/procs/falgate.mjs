// Every falgate row of the bench is constructed here, and only here, against falgate's public API as it is
// today: the standalone server, the Express, Hono (node-server) and Next adapters, and the rows with limits.
// When that API changes, this file is the one to adapt. It runs in three ways:
//   - as a bench child (`node falgate.mjs`, config.variant = standalone | express | hono | next);
//   - for the next variant, that child supervises `next start` (lib/next-app.mjs) and reports its process;
//     config.router picks the mount: "app" (default, the App Router route) or "pages" (the Pages Router route);
//   - imported by the Next app's routes (bench/next-app), which call nextRouteHandlers() (App Router) or
//     nextPagesHandler() (Pages Router).
import { isMain, runChild } from "../lib/child.mjs";

/**
 * Whether falgateOptions() configures limits. While false, the limits rows are left out of a default run and,
 * when asked for with --only, run falgate without limits and are marked so in the report.
 */
export const LIMITS_WIRED = true;

let logged = 0;
// Warnings and errors are shown (a bench that hides failures lies), but only the first few.
const log = (level) => (message, fields) => {
  if (++logged <= 5)
    process.stderr.write(`[falgate ${level}] ${message} ${fields ? JSON.stringify(fields) : ""}\n`);
};
const logger = { warn: log("warn"), error: log("error") };

/**
 * The options every falgate row shares, as a deployment would set them: the key from options, `authorize`
 * returning a constant principal (what a cheap session check costs), every default policy on, and `upstream`
 * pointing at the bench's TLS upstream instead of fal.
 * `maxTunnelsPerPrincipal` is the tunnel's per-principal cap: none in the bench (0: one principal opens every
 * tunnel), falgate's default of 5 in the soak (its clients spread over many principals).
 * @param {{ key: string, upstream: string, maxBodySize?: number, tunnelSecret?: string,
 *           maxTunnelsPerPrincipal?: number, limits?: "memory" | "redis", redisUrl?: string }} config
 */
export function falgateOptions(config) {
  const options = {
    credentials: config.key,
    upstream: config.upstream,
    authorize: () => ({ id: "bench" }),
    maxBodySize: config.maxBodySize,
    logger,
  };
  if (config.tunnelSecret) {
    // The tunnel is attached (by startServer) when falgate token keys are configured.
    options.tokens = { secret: config.tunnelSecret };
    options.tunnel = { maxPerPrincipal: config.maxTunnelsPerPrincipal ?? 0 };
  }
  if (config.limits) {
    // Every kind of limit on, generous enough never to refuse a bench request: the rows measure what checking
    // costs (one store round trip per admission, settlement off the answer's path).
    options.limits = {
      rate: "1000000000/min",
      maxConcurrent: 1_000_000,
      maxConcurrentTotal: 10_000_000,
      budget: "1000000000/day",
    };
  }
  return options;
}

/** The Redis client of the limits row, connected, as docs/production.md builds it (also the probe's). */
export async function connectRedis(url) {
  const { Redis } = await import("ioredis");
  // No offline queue and one retry, so an unreachable Redis fails fast.
  const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await new Promise((resolve, reject) => client.once("ready", resolve).once("error", reject));
  return client;
}

/** The store of the limits rows: the default in-memory one, or Redis on the bench's own redis-server. */
async function withStore(config, options) {
  if (config.limits !== "redis") return options;
  const { createRedisStore } = await import("@falgate/redis");
  return { ...options, store: createRedisStore(await connectRedis(config.redisUrl)) };
}

/**
 * What a browser does to open the tunnel (used by the bench's clients, in the orchestrator): a fresh falgate
 * token for `app` and the principal `subject`, minted with the tunnel proxy's `secret` as an app's token route
 * would (tokens are single-use), in the URL of the proxy's WebSocket endpoint.
 */
export async function tunnelClient(secret) {
  const { createTokenIssuer } = await import("@falgate/core");
  const issuer = createTokenIssuer({ secret });
  return {
    async url(proxyWsUrl, app, subject = "bench") {
      const { token } = await issuer.issue({ subject, apps: [app] });
      return `${proxyWsUrl}/${app}/realtime?fal_jwt_token=${encodeURIComponent(token)}`;
    },
  };
}

/** The App Router route handlers of the Next row (called inside `next start`, see bench/next-app). */
export async function nextRouteHandlers(config) {
  const { createFalgateHandler } = await import("@falgate/next");
  const { createUndiciFetch } = await import("@falgate/node");
  // docs/adapters/next.md: on the Node.js runtime, pass the pooled undici transport for throughput.
  return createFalgateHandler({ ...falgateOptions(config), fetch: createUndiciFetch() });
}

/**
 * The Pages Router API route of the Next Pages row (called inside `next start`, see bench/next-app): falgate on
 * its native Node binding, as docs/adapters/next.md shows. Its mount (pages/api/fal/pages/[[...path]].js) is not
 * the default `path`, so `path` is set to it, as docs/configuration.md asks of an adapter mounted elsewhere
 * (proxy calls are recognised by their `x-fal-target-url` wherever the mount is).
 */
export async function nextPagesHandler(config) {
  const { createFalgateHandler } = await import("@falgate/next/pages");
  // `config.mount`: the route's mount, passed by lib/next-app.mjs.
  return createFalgateHandler({ ...falgateOptions(config), path: config.mount });
}

async function standalone(config) {
  const { startServer } = await import("@falgate/node");
  const options = await withStore(config, falgateOptions(config));
  const server = await startServer({ ...options, port: 0, host: "127.0.0.1" });
  const url = `${server.url}/api/fal/proxy`;
  return { info: { url, wsUrl: url.replace(/^http/, "ws") }, close: () => server.close() };
}

async function express(config) {
  const { default: express } = await import("express");
  const { createFalgateHandler } = await import("@falgate/express");
  const app = express();
  app.use("/api/fal/proxy", createFalgateHandler(falgateOptions(config)));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve, reject) => server.once("listening", resolve).once("error", reject));
  return nodeServer(server);
}

async function hono(config) {
  const { Hono } = await import("hono");
  const { serve } = await import("@hono/node-server");
  // docs/adapters/hono.md: on @hono/node-server, the native Node handler.
  const { createFalgateHandler } = await import("@falgate/hono/node");
  const app = new Hono();
  app.all("/api/fal/proxy/*", createFalgateHandler(falgateOptions(config)));
  const server = await new Promise((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(started));
  });
  return nodeServer(server);
}

async function next(config) {
  const { startNextApp } = await import("../lib/next-app.mjs");
  return startNextApp({ module: import.meta.url, route: config.router ?? "app", config });
}

function nodeServer(server) {
  return {
    info: { url: `http://127.0.0.1:${server.address().port}/api/fal/proxy` },
    close: async () => {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const VARIANTS = { standalone, express, hono, next };

if (isMain(import.meta.url)) {
  runChild((config) => {
    const start = VARIANTS[config.variant];
    if (!start) throw new Error(`unknown falgate variant ${JSON.stringify(config.variant)}`);
    return start(config);
  });
}
