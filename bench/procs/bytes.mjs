// A bulk-data upstream in its own process. mock-fal's echo answers an upload back, so it cannot tell the
// two directions apart; this server sinks uploads, sources downloads and emits SSE as fast as the
// socket drains, checking `Authorization: Key <key>` like fal does.

import { once } from "node:events";
import { createServer } from "node:http";
import { runChild } from "../lib/child.mjs";

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

runChild(async ({ key }) => {
  const server = createServer(async (req, res) => {
    if (req.headers.authorization !== `Key ${key}`) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"detail":"Invalid credentials."}');
      return;
    }
    const url = new URL(req.url ?? "/", "http://bytes");
    try {
      if (url.pathname.endsWith("/sink")) return await sink(req, res);
      if (url.pathname.endsWith("/source")) return await source(res, Number(url.searchParams.get("bytes")));
      if (url.pathname.endsWith("/sse")) {
        return await sse(
          res,
          Number(url.searchParams.get("events")),
          Number(url.searchParams.get("size") ?? 100),
        );
      }
      res.writeHead(404, { "content-type": "application/json" }).end('{"detail":"Not Found"}');
    } catch {
      res.destroy();
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  return {
    info: { url: `http://127.0.0.1:${port}` },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
});

async function sink(req, res) {
  let bytes = 0;
  for await (const chunk of req) bytes += chunk.length;
  res.writeHead(200, { "content-type": "application/json", "x-fal-request-id": "bench-sink" });
  res.end(JSON.stringify({ bytes }));
}

async function source(res, total) {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(total) });
  await writeAll(res, total, (room) => (room >= CHUNK.length ? CHUNK : CHUNK.subarray(0, room)));
  res.end();
}

async function sse(res, events, size) {
  res.socket?.setNoDelay(true);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const pad = "x".repeat(Math.max(0, size - 40));
  for (let i = 0; i < events; i++) {
    // One write per event, as an app server emitting events one by one would do.
    if (!res.write(`data: {"i":${i},"pad":"${pad}"}\n\n`)) await drained(res);
    if (res.destroyed) return;
  }
  res.end();
}

async function writeAll(res, total, chunkFor) {
  let sent = 0;
  while (sent < total) {
    const chunk = chunkFor(total - sent);
    sent += chunk.length;
    if (!res.write(chunk)) await drained(res);
    if (res.destroyed) return;
  }
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
