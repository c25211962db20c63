import { createServer, type Socket } from "node:net";

/** The body length a {@link startCuttingUpstream} answer declares, and how much of it is sent before the reset. */
export const CUT_DECLARED = 4096;
export const CUT_SENT = 1500;

/** A loopback HTTP/1.1 upstream (a raw `node:net` server) that resets every connection in the middle of its answer. */
export interface CuttingUpstream {
  /** `http://127.0.0.1:PORT` */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts an upstream whose answers are cut by a TCP reset, so the proxy's client must see the truncation as an error.
 * A request path ending in `/length` is answered `content-length: 4096` and reset after 1,500 bytes; any other path
 * is answered as a chunked SSE stream (`text/event-stream`) reset after its first event.
 */
export function startCuttingUpstream(): Promise<CuttingUpstream> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      const path = head.slice(head.indexOf(" ") + 1, head.indexOf(" ", head.indexOf(" ") + 1));
      if (path.split("?")[0]!.endsWith("/length")) {
        socket.write(
          `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${CUT_DECLARED}\r\n\r\n`,
        );
        socket.write(Buffer.alloc(CUT_SENT, 0x61));
      } else {
        const event = 'data: {"status":"IN_PROGRESS"}\n\n';
        socket.write(
          "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
            `${Buffer.byteLength(event).toString(16)}\r\n${event}\r\n`,
        );
      }
      // Long enough for the proxy to relay what was sent; then a reset (RST), not an orderly close.
      setTimeout(() => socket.resetAndDestroy(), 200);
    };
    socket.on("data", onData);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
