// The demo's custom server: Next.js and falgate's realtime tunnel on one http.Server (Next route
// handlers cannot upgrade WebSockets). In front of a local mock of fal by default; with FAL_KEY set
// (and FALGATE_MOCK unset) it talks to the real fal.ai.
//
//   node server.mjs          production (run `next build` first; `pnpm demo` does both)
//   node server.mjs --dev    next dev
//
// Env: PORT (3000), HOST (127.0.0.1), FAL_KEY, FALGATE_MOCK=1, FALGATE_TOKEN_SECRET (random per start).
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer } from "node:http";
import { dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { PROXY_METHODS } from "@falgate/core/binding";
import { attachTunnel } from "@falgate/node";
import next from "next";
import { demoFalgate } from "./src/lib/falgate-config.mjs";

const dir = dirname(fileURLToPath(import.meta.url));
/** Where the proxy route and the tunnel are mounted (the tunnel's default `path`). */
const TUNNEL_PATH = "/api/fal/proxy";

/**
 * Starts the demo. The mock (when used) and the token secret are handed to the Next route through
 * `env` (process.env by default), which the route reads when it first loads.
 * @param {{ port?: number, host?: string, dev?: boolean, env?: Record<string, string | undefined>, mockTimings?: { queueMs?: number, runMs?: number } }} [options]
 */
export async function startDemo(options = {}) {
  const env = options.env ?? process.env;
  const port = options.port ?? Number(env.PORT ?? 3000);
  const host = options.host ?? env.HOST ?? "127.0.0.1";
  const dev = options.dev ?? false;
  // The demo promises to work offline: no telemetry pings unless the user opted in explicitly.
  env.NEXT_TELEMETRY_DISABLED ??= "1";
  const hasKey = Boolean(env.FAL_KEY || (env.FAL_KEY_ID && env.FAL_KEY_SECRET));
  const useMock = env.FALGATE_MOCK === "1" || !hasKey;

  let mock = null;
  if (useMock) {
    const { startMockFal } = await import("@falgate/mock-fal");
    // Slow enough for a person to watch the queue and press Cancel.
    mock = await startMockFal({ port: 0, queueMs: 1500, runMs: 3000, ...options.mockTimings });
    env.FALGATE_DEMO_UPSTREAM = mock.url;
    env.FALGATE_DEMO_MOCK_WS = mock.wsUrl;
    env.FAL_KEY = mock.key;
    delete env.FAL_KEY_ID;
    delete env.FAL_KEY_SECRET;
  } else {
    delete env.FALGATE_DEMO_UPSTREAM;
    delete env.FALGATE_DEMO_MOCK_WS;
  }
  // Signs the tunnel's single-use tokens; a fresh one per start is fine for a demo (never logged).
  env.FALGATE_TOKEN_SECRET ||= randomBytes(32).toString("base64url");
  // The one instance: the Next route (HTTP proxy, token route) picks up this same object.
  const falgate = demoFalgate(env, { fresh: true });

  // Next.js attaches its own 'upgrade' listener to the server of the first request it sees, and that
  // listener ends every upgrade whose path matches a route, the tunnel's included. Handing Next a
  // separate emitter as its `httpServer` keeps it off ours; we pass it only the upgrades that are not
  // the tunnel's (dev hot reload, rewrites).
  const nextUpgrades = new EventEmitter();
  const app = next({
    dev,
    dir,
    hostname: host,
    port: port === 0 ? undefined : port,
    httpServer: nextUpgrades,
  });
  try {
    await app.prepare();
  } catch (error) {
    await mock?.close();
    throw error;
  }
  const handle = app.getRequestHandler();
  const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
  const server = createServer((req, res) => {
    // Next builds a Fetch `Request` for app routes and answers 500 for methods Fetch forbids; say 405 instead.
    if (FORBIDDEN_METHODS.has(req.method ?? "")) {
      res.writeHead(405, { allow: PROXY_METHODS.join(", ") }).end();
      return;
    }
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  // The same instance as the HTTP route: the tunnel verifies falgate tokens minted there.
  const tunnel = attachTunnel(server, falgate);
  server.on("upgrade", (req, socket, head) => {
    if (!(req.url ?? "").startsWith(`${TUNNEL_PATH}/`)) nextUpgrades.emit("upgrade", req, socket, head);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(undefined);
    });
  });
  const address = server.address();
  const shownHost =
    host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  const url = `http://${shownHost}:${typeof address === "object" && address ? address.port : port}`;

  let closing;
  const close = () => {
    closing ??= (async () => {
      await tunnel.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
      await app.close?.();
      await mock?.close();
    })();
    return closing;
  };
  return { url, mode: useMock ? "mock" : "live", close };
}

async function main() {
  const dev = process.argv.includes("--dev");
  const demo = await startDemo({ dev });
  console.log(`
  falgate demo ready: ${demo.url}

  mode: ${demo.mode === "mock" ? "offline, a local mock of fal (no key, no account)" : "live fal.ai (FAL_KEY)"}
  proxy: ${demo.url}/api/fal/proxy   realtime tunnel: ${demo.url.replace("http", "ws")}/api/fal/proxy/{app}/realtime

  Press Ctrl+C to stop.
`);
  const stop = () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    demo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    if (error?.code === "EADDRINUSE" || error?.code === "EACCES") {
      const port = error.port ?? process.env.PORT ?? 3000;
      const why =
        error.code === "EADDRINUSE" ? "is already in use (another demo still running?)" : "needs privileges";
      console.error(
        `falgate demo: port ${port} ${why}.\nStop it, or pick another port: PORT=3001 npm run demo`,
      );
    } else {
      console.error("falgate demo:", error instanceof Error ? error.message : error);
    }
    process.exit(1);
  });
}
