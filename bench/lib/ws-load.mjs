// WebSocket load against an echo peer: sequential round trips, and a windowed stream of frames.
import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";

/**
 * Opens a WebSocket (no compression, as fal's realtime clients) and resolves once open. `ca` is the
 * certificate to trust for `wss:` URLs.
 */
export function openSocket(url, { headers = {}, ca } = {}) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      headers,
      ca,
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
    });
    socket.binaryType = "nodebuffer";
    const fail = (error) => reject(error);
    socket.once("error", fail);
    socket.once("unexpected-response", (_req, res) =>
      reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)),
    );
    socket.once("open", () => {
      socket.off("error", fail);
      resolve(socket);
    });
  });
}

/** Closes a socket and waits for the close handshake (or 5 s). */
export function closeSocket(socket) {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, 5_000);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(1000, "bench done");
  });
}

/** `count` sequential round trips of `payload`; latencies in ms. Rejects on a wrong echo or a close. */
export function roundTrips(socket, payload, count) {
  return new Promise((resolve, reject) => {
    const latencies = new Float64Array(count);
    let i = 0;
    let sentAt = 0;
    const onMessage = (data) => {
      if (data.length !== payload.length)
        return finish(new Error(`echo of ${data.length} bytes, sent ${payload.length}`));
      latencies[i++] = performance.now() - sentAt;
      if (i === count) return finish();
      sentAt = performance.now();
      socket.send(payload, { binary: true });
    };
    const onClose = (code) => finish(new Error(`socket closed (${code}) after ${i} round trips`));
    const finish = (error) => {
      socket.off("message", onMessage);
      socket.off("close", onClose);
      if (error) reject(error);
      else resolve(latencies);
    };
    socket.on("message", onMessage);
    socket.on("close", onClose);
    sentAt = performance.now();
    socket.send(payload, { binary: true });
  });
}

/** Streams `count` frames keeping `window` in flight; resolves with wall time (ms) once every echo is back. */
export function windowed(socket, payload, count, window) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let received = 0;
    const start = performance.now();
    const pump = () => {
      while (sent < count && sent - received < window) {
        socket.send(payload, { binary: true });
        sent++;
      }
    };
    const onMessage = (data) => {
      if (data.length !== payload.length)
        return finish(new Error(`echo of ${data.length} bytes, sent ${payload.length}`));
      received++;
      if (received === count) return finish();
      pump();
    };
    const onClose = (code) => finish(new Error(`socket closed (${code}) after ${received} echoes`));
    const finish = (error) => {
      socket.off("message", onMessage);
      socket.off("close", onClose);
      if (error) reject(error);
      else resolve(performance.now() - start);
    };
    socket.on("message", onMessage);
    socket.on("close", onClose);
    pump();
  });
}
