import { type RawData, WebSocket } from "ws";

/** One received WebSocket message. */
export interface Frame {
  data: Buffer;
  binary: boolean;
}

/** An open WebSocket with an awaitable message queue. */
export interface OpenSocket {
  socket: WebSocket;
  /** Resolves with the next message (queued ones first); rejects if the socket closes first. */
  next(): Promise<Frame>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Opens a WebSocket (real socket) and resolves once it is open; rejects with the HTTP status of a refused upgrade. */
export function openSocket(url: string, headers: Record<string, string> = {}): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    const queue: Frame[] = [];
    const waiters: Array<{ resolve: (frame: Frame) => void; reject: (error: Error) => void }> = [];
    let closedWith: { code: number; reason: string } | undefined;
    const closed = new Promise<{ code: number; reason: string }>((done) => {
      socket.on("close", (code, reason) => {
        closedWith = { code, reason: reason.toString("utf8") };
        for (const waiter of waiters.splice(0)) waiter.reject(new Error(`socket closed (${code})`));
        done(closedWith);
      });
    });
    socket.on("message", (data: RawData, binary) => {
      const frame = { data: toBuffer(data), binary };
      const waiter = waiters.shift();
      if (waiter) waiter.resolve(frame);
      else queue.push(frame);
    });
    socket.once("unexpected-response", (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
      res.resume();
      socket.terminate();
    });
    socket.once("error", reject);
    socket.once("open", () => {
      socket.off("error", reject);
      socket.on("error", () => undefined);
      resolve({
        socket,
        closed,
        close: () => socket.close(),
        next: () => {
          const frame = queue.shift();
          if (frame) return Promise.resolve(frame);
          if (closedWith) return Promise.reject(new Error(`socket closed (${closedWith.code})`));
          return new Promise((res, rej) => waiters.push({ resolve: res, reject: rej }));
        },
      });
    });
  });
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
