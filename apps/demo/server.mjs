// The demo's custom server: Next.js and falgate's realtime tunnel on one http.Server (Next route
// handlers cannot upgrade WebSockets). In front of a local mock of fal by default; with FAL_KEY set
// (and FALGATE_MOCK unset) it talks to the real fal.ai.
//
//   node server.mjs          production (run `next build` first; `pnpm demo` does both)
//   node server.mjs --dev    next dev
//
// Env: PORT (3000), HOST (127.0.0.1), FAL_KEY, FALGATE_MOCK=1, FALGATE_TOKEN_SECRET (random per start),
// FALGATE_LOG_FORMAT=json (one JSON object per call instead of aligned lines), FALGATE_QUIET=1 (no line per call),
// FALGATE_DEMO_RATE / FALGATE_DEMO_MAX_CONCURRENT / FALGATE_DEMO_BUDGET (the demo's limits, see falgate-config.mjs).
//
// In mock mode the browser never needs the mock's own port: the mock writes relative URLs (`publicUrl: "/"`), this
// server forwards `/_cdn/*` (images, uploads) to it, and the direct realtime path reaches it at MOCK_REALTIME_PATH.
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, request as httpRequest } from "node:http";
import { dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createAccessLog, createLineLogger } from "@falgate/core";
import { PROXY_METHODS } from "@falgate/core/binding";
import { attachTunnel } from "@falgate/node";
import next from "next";
import { demoFalgate } from "./src/lib/falgate-config.mjs";
import { MOCK_CDN_PATH, MOCK_REALTIME_PATH } from "./src/lib/paths.mjs";

const dir = dirname(fileURLToPath(import.meta.url));
/** Where the proxy route and the tunnel are mounted (the tunnel's default `path`). */
const TUNNEL_PATH = "/api/fal/proxy";

/**
 * Starts the demo. The mock (when used) and the token secret are handed to the Next route through
 * `env` (process.env by default), which the route reads when it first loads.
 * `log`, when given, receives one access-log line per call and per tunnel session (`logFormat`: pretty or json).
 * @param {{ port?: number, host?: string, dev?: boolean, env?: Record<string, string | undefined>, mockTimings?: { queueMs?: number, runMs?: number }, log?: (line: string) => void, logFormat?: "pretty" | "json" }} [options]
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
    // Slow enough for a person to watch the queue and press Cancel. Relative URLs in its answers: the page loads
    // images and uploads from this server's origin, which forwards them (below).
    mock = await startMockFal({
      port: 0,
      queueMs: 1500,
      runMs: 3000,
      publicUrl: "/",
      ...options.mockTimings,
    });
    env.FALGATE_DEMO_UPSTREAM = mock.url;
    env.FAL_KEY = mock.key;
    delete env.FAL_KEY_ID;
    delete env.FAL_KEY_SECRET;
  } else {
    delete env.FALGATE_DEMO_UPSTREAM;
  }
  // Signs the tunnel's single-use tokens; a fresh one per start is fine for a demo (never logged).
  env.FALGATE_TOKEN_SECRET ||= randomBytes(32).toString("base64url");
  // The one instance: the Next route (HTTP proxy, token route) picks up this same object.
  const falgate = demoFalgate(env, { fresh: true });
  if (options.log) {
    const write = options.log;
    falgate.observe(createAccessLog(createLineLogger({ format: options.logFormat ?? "pretty", write })));
  }

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
    if (mock && (req.url ?? "").startsWith(MOCK_CDN_PATH)) {
      forwardToMock(mock.url, req, res);
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
    const path = req.url ?? "";
    if (mock && path.startsWith(`${MOCK_REALTIME_PATH}/`)) {
      upgradeToMock(mock.url, path.slice(MOCK_REALTIME_PATH.length), req, socket, head);
    } else if (!path.startsWith(`${TUNNEL_PATH}/`)) nextUpgrades.emit("upgrade", req, socket, head);
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

/**
 * Headers never forwarded to the mock: hop-by-hop ones, `authorization` (its CDN and the token path need none) and
 * the routing header (the browser reaches only the CDN and the realtime socket, never the mock's fal routes).
 */
const HOP_BY_HOP = new Set([
  "x-falgate-upstream-host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "authorization",
]);

/** The request's headers for the mock (Host set by node for the target). */
function headersFor(req) {
  /** @type {Record<string, string | string[]>} */
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && name !== "host" && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  return headers;
}

/**
 * Mock mode: `/_cdn/*` (generated images, uploaded files, the upload PUT the client makes itself) served through
 * this origin, both bodies streamed.
 * @param {string} mockUrl
 * @param {import("node:http").IncomingMessage} req
 * @param {import("node:http").ServerResponse} res
 */
function forwardToMock(mockUrl, req, res) {
  const upstream = httpRequest(
    new URL(req.url ?? "/", mockUrl),
    { method: req.method, headers: headersFor(req) },
    (answer) => {
      const headers = { ...answer.headers };
      for (const name of HOP_BY_HOP) delete headers[name];
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    },
  );
  upstream.on("error", () => {
    if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" }).end("mock-fal unreachable");
    else res.destroy();
  });
  res.on("close", () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

/**
 * Mock mode: the direct realtime path. The official client connects to wss://fal.run itself; a dev-only shim in
 * the page sends it here instead, and this relays the WebSocket to the mock (`path`: what follows the prefix).
 * @param {string} mockUrl
 * @param {string} path
 * @param {import("node:http").IncomingMessage} req
 * @param {import("node:stream").Duplex} socket
 * @param {Buffer} head
 */
function upgradeToMock(mockUrl, path, req, socket, head) {
  const upstream = httpRequest(new URL(path, mockUrl), {
    method: "GET",
    headers: { ...headersFor(req), connection: "Upgrade", upgrade: "websocket" },
  });
  upstream.on("upgrade", (answer, mockSocket, mockHead) => {
    const lines = ["HTTP/1.1 101 Switching Protocols"];
    for (let i = 0; i < answer.rawHeaders.length; i += 2) {
      lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
    }
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (mockHead.length > 0) socket.write(mockHead);
    if (head.length > 0) mockSocket.write(head);
    mockSocket.pipe(socket).pipe(mockSocket);
    const end = () => {
      socket.destroy();
      mockSocket.destroy();
    };
    mockSocket.on("error", end).on("close", end);
    socket.on("error", end).on("close", end);
  });
  upstream.on("response", (answer) => {
    // No upgrade (a path that names no app): say so, then close.
    socket.end(`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}\r\nconnection: close\r\n\r\n`);
    answer.resume();
  });
  upstream.on("error", () => socket.destroy());
  socket.on("error", () => upstream.destroy());
  upstream.end();
}

async function main() {
  const dev = process.argv.includes("--dev");
  const quiet = ["1", "true", "yes", "on"].includes((process.env.FALGATE_QUIET ?? "").toLowerCase());
  const demo = await startDemo({
    dev,
    log: quiet ? undefined : (line) => process.stdout.write(line),
    logFormat: process.env.FALGATE_LOG_FORMAT === "json" ? "json" : "pretty",
  });
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
