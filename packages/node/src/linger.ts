import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Bounds of the lingering close after an early answer (a 413, a refusal) to a request whose body is still arriving:
 * the rest of the body is read and discarded until the client stops sending, for at most this many bytes and this
 * long after the answer went out, then the connection is cut.
 */
export const LINGER = Object.freeze({
  /** Most bytes read and discarded after the answer (8 MiB). */
  maxBytes: 8 * 1024 * 1024,
  /** Longest the connection stays open after the answer, ms. */
  timeout: 2_000,
  /** How often both are checked, ms (so the byte bound holds to within what arrives in this time). */
  checkEvery: 20,
});

/** The parts of Node's `IncomingMessage` used to discard a body (`_dump` is how Node itself drops an unread one). */
type Dumpable = IncomingMessage & { _dump?: () => void; upgrade?: boolean };

/**
 * Node's HTTP/1 server parser as it hangs on a connection's socket: `onIncoming` is what hands each parsed request
 * to the server (its `request` event); the parser looks it up on every request, so an own property replaces it.
 */
type ParsedSocket = Socket & {
  parser?: { onIncoming?: (req: IncomingMessage, keepAlive: boolean) => number } | null;
};

/**
 * Called before an answer is written while the request body is still arriving: the answer says `Connection: close`,
 * and the close after it lingers. Node closes such a connection with `destroySoon()`: FIN, then a destroy as soon as
 * the answer is out, with the client's bytes unread, and a close with unread bytes is a TCP reset that can destroy the
 * answer before the client reads it (the client then retries, or reports a reset instead of a 413). Here the
 * connection is half-closed instead, and the rest of the body is read and thrown away as it arrives (never
 * forwarded, never buffered) until the client is done or {@link LINGER} runs out. No-op for HTTP/2 and complete
 * requests.
 */
export function lingerAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
  const socket = res.socket;
  if (req.complete || req.httpVersionMajor >= 2 || socket === null || socket.destroyed) return;
  // An own property shadows `net.Socket.prototype.destroySoon` for this one socket.
  socket.destroySoon = () => lingeringClose(socket, req as Dumpable);
  // A request pipelined behind this one could never be answered (this answer closes the connection): it is
  // dropped unseen, never handed to the handler (nor forwarded to fal), and the connection closes once the answer
  // is out (the parser has read the whole discarded body by then; only bytes sent after it may still be unread).
  const parser = (socket as ParsedSocket).parser;
  if (parser && typeof parser.onIncoming === "function") {
    parser.onIncoming = (next) => {
      // Not an upgrade either (Node would hand the socket to `upgrade` listeners), and its body is discarded.
      const dropped = next as Dumpable;
      dropped.upgrade = false;
      dropped._dump?.();
      closeWhenAnswered(socket);
      return 0;
    };
  }
}

/** Destroys the socket once everything written to it (the answer, the FIN) has gone to the kernel. */
function closeWhenAnswered(socket: Socket): void {
  if (socket.writableFinished) socket.destroy();
  else socket.once("finish", () => socket.destroy());
}

function lingeringClose(socket: Socket, req: Dumpable): void {
  if (req.complete) {
    // Nothing left unread: the ordinary close.
    Reflect.deleteProperty(socket, "destroySoon");
    socket.destroySoon();
    return;
  }
  // Counted from the socket's own total: a `data` listener would take the socket back from Node's native HTTP
  // parser, and one added while the parser holds it paused leaves it paused for good.
  const start = socket.bytesRead;
  const startedAt = performance.now();
  const timer = setInterval(() => {
    if (socket.bytesRead - start > LINGER.maxBytes || performance.now() - startedAt >= LINGER.timeout) {
      socket.destroy();
    } else if (req.complete && socket.writableFinished) {
      // The discarded body has ended and the answer is out: nothing of the body is left unread, so the close is no
      // reset, and reading on would only parse what the client sends next, which can never be answered.
      socket.destroy();
    }
  }, LINGER.checkEvery);
  timer.unref();
  socket.once("close", () => clearInterval(timer));
  // Discard the body from here on: the HTTP parser drops a dumped request's chunks (even one a reader destroyed)
  // instead of pushing them and pausing the socket when nobody reads; resuming the request resumes the socket.
  if (typeof req._dump === "function") req._dump();
  else req.resume();
  socket.resume();
  // FIN after the answer; the client's own end (or a bound) closes the rest.
  socket.end();
}
