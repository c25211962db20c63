import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

/** A connection the fake tunnel accepted. */
export interface TunnelSocket {
  socket: WebSocket;
  url: URL;
  token: string;
  /** Frames received from the client, in order. */
  frames: { binary: boolean; data: Buffer }[];
}

/** A loopback stand-in for falgate's token route and tunnel, with real HTTP and WebSocket sockets. */
export interface FakeTunnel {
  url: string;
  proxyUrl: string;
  /** Tokens handed out by the token route, in order. */
  tokens: string[];
  /** Bodies of token requests, parsed. */
  tokenRequests: unknown[];
  /** Accepted WebSocket connections, in order. */
  connections: TunnelSocket[];
  /** Answer of the token route: a status and JSON body, or `null` for the normal token. */
  tokenAnswer: ((n: number) => { status: number; body: unknown } | null) | null;
  /** Refuse the upgrade (HTTP 403) for connection attempt `n` (1-based) when this returns true. */
  refuseUpgrade: ((n: number) => boolean) | null;
  /** Resolves with the `n`-th accepted connection (1-based) once it exists. */
  connection(n: number): Promise<TunnelSocket>;
  /** Resolves once `conn` has received `count` frames. */
  frames(conn: TunnelSocket, count: number): Promise<TunnelSocket["frames"]>;
  close(): Promise<void>;
}

/** Starts a fake falgate (token route + tunnel) on an ephemeral loopback port. */
export async function startFakeTunnel(): Promise<FakeTunnel> {
  const server: Server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const waiters: { n: number; resolve: (c: TunnelSocket) => void }[] = [];
  const frameWaiters: { conn: TunnelSocket; count: number; resolve: () => void }[] = [];
  let attempts = 0;
  const used = new Set<string>();

  const fake: FakeTunnel = {
    url: "",
    proxyUrl: "",
    tokens: [],
    tokenRequests: [],
    connections: [],
    tokenAnswer: null,
    refuseUpgrade: null,
    connection(n) {
      const existing = fake.connections[n - 1];
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    frames(conn, count) {
      if (conn.frames.length >= count) return Promise.resolve(conn.frames);
      return new Promise((resolve) =>
        frameWaiters.push({ conn, count, resolve: () => resolve(conn.frames) }),
      );
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  server.on("request", (req, res) => {
    if (req.method === "POST" && req.url?.startsWith("/api/fal/proxy/token")) {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        fake.tokenRequests.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        const special = fake.tokenAnswer?.(fake.tokenRequests.length) ?? null;
        if (special !== null) {
          res
            .writeHead(special.status, { "content-type": "application/json" })
            .end(JSON.stringify(special.body));
          return;
        }
        const token = `token-${fake.tokens.length + 1}`;
        fake.tokens.push(token);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(token));
      });
      return;
    }
    res.writeHead(404).end();
  });

  server.on("upgrade", (req: IncomingMessage, socket, head) => {
    attempts++;
    const url = new URL(req.url ?? "/", "http://localhost");
    const token = url.searchParams.get("fal_jwt_token") ?? "";
    if (fake.refuseUpgrade?.(attempts) || !fake.tokens.includes(token) || used.has(token)) {
      socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      return;
    }
    used.add(token);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: TunnelSocket = { socket: ws, url, token, frames: [] };
      ws.on("message", (data: Buffer, binary: boolean) => {
        conn.frames.push({ binary, data: Buffer.from(data) });
        for (const w of frameWaiters.filter((f) => f.conn === conn && conn.frames.length >= f.count)) {
          frameWaiters.splice(frameWaiters.indexOf(w), 1);
          w.resolve();
        }
      });
      fake.connections.push(conn);
      for (const w of waiters.filter((x) => x.n <= fake.connections.length)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(fake.connections[w.n - 1]!);
      }
    });
  });

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}`;
  fake.proxyUrl = `${fake.url}/api/fal/proxy`;
  return fake;
}

/** A promise and its resolver, for waiting on callbacks. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export interface Collector<T> {
  items: T[];
  push: (item: T) => void;
  /** Resolves once `count` items arrived. */
  next: (count: number) => Promise<T[]>;
  /** Resolves once an item matching `predicate` arrived. */
  until: (predicate: (item: T) => boolean) => Promise<T[]>;
}

/** Collects values pushed by a callback and lets a test wait for them. */
export function collector<T>(): Collector<T> {
  const items: T[] = [];
  const waiters: { done: () => boolean; resolve: (items: T[]) => void }[] = [];
  const wait = (done: () => boolean): Promise<T[]> =>
    done() ? Promise.resolve(items) : new Promise((resolve) => waiters.push({ done, resolve }));
  return {
    items,
    push(item) {
      items.push(item);
      for (const w of waiters.filter((x) => x.done())) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(items);
      }
    },
    next: (count) => wait(() => items.length >= count),
    until: (predicate) => wait(() => items.some(predicate)),
  };
}
