// fal's realtime endpoint as the soak needs it, in its own process on the load cores: WebSocket upgrades at
// `/{owner}/{app}[/path]/realtime` over TLS (or plain, with `tls: false`: to tell TLS's share of falgate's memory), `Authorization: Key <key>` checked as fal does, every frame echoed
// back. Unlike mock-fal (whose request log keeps the newest records only), it counts every connection it
// accepted and every close code it received, so the soak can check that all its tunnels were closed cleanly
// on fal's side too.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { WebSocketServer } from "ws";
import { runChild } from "../lib/child.mjs";

const REALTIME_PATH = /^\/[^/?]+\/[^/?]+(\/[^?]*)?\/realtime(\?|$)/;

runChild(async ({ certFile, keyFile, key, tls = true }) => {
  const server = tls
    ? https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) })
    : http.createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  const sockets = new Set();
  const tally = { accepted: 0, refused: 0, closes: {} };
  const authorization = `Key ${key}`;

  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => socket.destroy());
    if (!REALTIME_PATH.test(req.url ?? "") || req.headers.authorization !== authorization) {
      tally.refused++;
      socket.end("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      tally.accepted++;
      sockets.add(ws);
      ws.on("error", () => undefined);
      ws.on("message", (data, binary) => ws.send(data, { binary }));
      ws.on("close", (code) => {
        sockets.delete(ws);
        tally.closes[code] = (tally.closes[code] ?? 0) + 1;
      });
    });
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  server.listen(0, "127.0.0.1", 2048);
  await once(server, "listening");

  const { port } = server.address();
  return {
    info: { url: `${tls ? "https" : "http"}://127.0.0.1:${port}` },
    /** Connections accepted, refused, open now, and the close codes received (code → count). */
    probe: () => ({ ...tally, closes: { ...tally.closes }, open: sockets.size }),
    close: async () => {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
});
