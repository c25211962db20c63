// The upstream every row talks to, in its own process on the load cores: @falgate/mock-fal served over TLS
// (what the proxies forward to, as they would to fal.run) and over plain HTTP (the "direct" row), one mock
// state behind both ports, plus two bulk routes for large bodies:
//   GET  /bench/bytes/source?bytes=N   N bytes of application/octet-stream (content-length set)
//   POST /bench/bytes/sink             reads the whole body, answers {"bytes": N}
//   POST /bench/echo                   answers the JSON body back, as mock-fal's echo app does, without the
//                                      mock's routing and request log: the fast upstream of the soak
// All three check `Authorization: Key <key>` as fal does.
//
// mock-fal has no TLS option, so `http.createServer` is swapped for `https.createServer` while the mock starts
// (it calls it once, in startMockFal): the mock's own request and upgrade handlers then run on a TLS server
// with no extra hop. The same handlers also serve the plain HTTP port.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { syncBuiltinESMExports } from "node:module";
import { runChild } from "../lib/child.mjs";

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const KEEP_ALIVE_MS = 65_000;

// `keepAliveMs`: how long idle connections stay open. The bench keeps them between rounds; the soak shortens it so
// that the proxy's pooled connections are gone when it counts the proxy's handles after the load.
runChild(async ({ certFile, keyFile, runMs = 8, keepAliveMs = KEEP_ALIVE_MS }) => {
  const tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  const createHttpServer = http.createServer;
  let mockListener;
  let secure;
  http.createServer = (listener) => {
    mockListener = listener;
    secure = https.createServer(tls);
    return secure;
  };
  syncBuiltinESMExports();
  let mock;
  try {
    const { startMockFal } = await import("@falgate/mock-fal");
    mock = await startMockFal({
      runMs,
      // Tens of thousands of requests: keep the request log small and bodies out of it.
      maxRecords: 100,
      recordBodyLimit: 0,
    });
  } finally {
    http.createServer = createHttpServer;
    syncBuiltinESMExports();
  }
  if (!secure || !mockListener) throw new Error("mock-fal did not create its server through node:http");
  const listener = withBulkRoutes(mock.key, mockListener);
  secure.on("request", listener);

  const plain = createHttpServer(listener);
  // WebSocket upgrades on the plain port go to the mock's realtime handler, registered on the TLS server.
  plain.on("upgrade", (req, socket, head) => secure.emit("upgrade", req, socket, head));
  plain.on("clientError", (_error, socket) => socket.destroy());
  plain.listen(0, "127.0.0.1");
  await once(plain, "listening");
  // The proxies' pools keep their upstream connections between rounds instead of handshaking again.
  for (const server of [secure, plain]) server.keepAliveTimeout = keepAliveMs;

  const tlsPort = secure.address().port;
  const plainPort = plain.address().port;
  return {
    info: {
      key: mock.key,
      httpUrl: `http://127.0.0.1:${plainPort}`,
      httpsUrl: `https://127.0.0.1:${tlsPort}`,
      wsUrl: `ws://127.0.0.1:${plainPort}`,
      wssUrl: `wss://127.0.0.1:${tlsPort}`,
      tlsPort,
    },
    close: async () => {
      plain.closeAllConnections();
      await Promise.all([new Promise((resolve) => plain.close(resolve)), mock.close()]);
    },
  };
});

/** The bulk routes in front of the mock's own handler. */
function withBulkRoutes(key, mockListener) {
  const authorization = `Key ${key}`;
  return (req, res) => {
    if (!req.url?.startsWith("/bench/")) return mockListener(req, res);
    if (req.headers.authorization !== authorization) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"detail":"Invalid credentials."}');
      return;
    }
    if (req.url === "/bench/echo" && req.method === "POST") return echo(req, res);
    const url = new URL(req.url, "http://upstream");
    if (url.pathname === "/bench/bytes/sink" && req.method === "POST") return sink(req, res);
    if (url.pathname === "/bench/bytes/source" && req.method === "GET") {
      return source(res, Number(url.searchParams.get("bytes") ?? 0));
    }
    res.writeHead(404, { "content-type": "application/json" }).end('{"detail":"Not Found"}');
  };
}

function sink(req, res) {
  let bytes = 0;
  req.on("data", (chunk) => {
    bytes += chunk.length;
  });
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "x-fal-request-id": "bench-sink" });
    res.end(JSON.stringify({ bytes }));
  });
  req.on("error", () => res.destroy());
}

function echo(req, res) {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": String(body.length),
      "x-fal-request-id": "bench-echo",
    });
    res.end(body);
  });
  req.on("error", () => res.destroy());
}

async function source(res, total) {
  res.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-length": String(total),
    "x-fal-request-id": "bench-source",
  });
  let sent = 0;
  while (sent < total) {
    const chunk = total - sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, total - sent);
    sent += chunk.length;
    if (!res.write(chunk)) {
      await drained(res);
      if (res.destroyed) return;
    }
  }
  res.end();
}

/** Resolves on `drain`, or when the client is gone (then `res.destroyed` is set). */
function drained(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
