import type { IncomingMessage } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Server as NetServer } from "node:net";
import type { Duplex } from "node:stream";
import { createSecureContext, type SecureContext } from "node:tls";
import { type Falgate, FalgateError, type FalgateOptions, type TunnelInfo } from "@falgate/core";
import {
  bindingOf,
  CloseCode,
  createRelay,
  errorResponse,
  type Relay,
  type RelayPeer,
  refusalFor,
  type TunnelDecision,
  type TunnelRefusal,
  toFalgate,
  upgradeOnly,
} from "@falgate/core/binding";
import { WebSocket, WebSocketServer } from "ws";

/** A snapshot of one open tunnel. */
export interface TunnelSnapshot extends TunnelInfo {
  state: "connecting" | "open" | "closed";
  /** Bytes queued toward the browser / toward fal. */
  clientBuffered: number;
  upstreamBuffered: number;
  /** True while falgate stops reading from that side because the other side is not keeping up. */
  clientPaused: boolean;
  upstreamPaused: boolean;
}

/** The realtime tunnel on Node's `ws`. */
export interface NodeTunnel {
  /**
   * Handles an `upgrade` event. Returns `false`, without touching the socket, when the URL is not below
   * the tunnel mount (another upgrade handler may own it).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Open tunnels (accepted, not yet closed). */
  readonly size: number;
  /** One snapshot per open tunnel. */
  snapshot(): TunnelSnapshot[];
  /** Closes every tunnel (1001) and stops the keep-alive timer; resolves when all sockets are gone. */
  close(): Promise<void>;
}

interface Message {
  data: Buffer;
  binary: boolean;
}

interface Side {
  ws: WebSocket;
  alive: boolean;
  /** Set when falgate paused reading from this side (the other side is backed up). */
  paused: boolean;
}

interface Tunnel {
  info: TunnelInfo;
  relay: Relay<Message>;
  client: Side;
  upstream: Side;
  done: Promise<void>;
}

/**
 * Creates the tunnel of an instance (or of options, for a tunnel-only server): authenticate first (the gate's
 * `decide`), then upgrade with `ws` (`noServer`), then relay byte for byte with back-pressure, keep-alive and
 * cleanup of every socket and timer. `process.env` is the platform env, read live.
 * @example
 * const tunnel = createTunnel(falgate);
 * server.on("upgrade", (req, socket, head) => { if (!tunnel.handleUpgrade(req, socket, head)) socket.destroy(); });
 */
export function createTunnel(falgate: Falgate<never> | FalgateOptions = {}): NodeTunnel {
  const instance = toFalgate(falgate);
  const gate = bindingOf(instance).tunnel;
  const { limits, logger } = gate;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxPayload,
    // Frames are relayed as received; compression per hop would only cost memory and invite zip bombs.
    perMessageDeflate: false,
    clientTracking: false,
  });
  const tunnels = new Set<Tunnel>();
  const pending = new Set<Duplex>();
  /** Sockets told why they were refused, waiting for the close handshake. */
  const refused = new Set<WebSocket>();
  let closing = false;
  let shutdown: Promise<void> | undefined;
  let keepAlive: NodeJS.Timeout | undefined;

  const startKeepAlive = () => {
    if (keepAlive || limits.pingInterval === 0) return;
    keepAlive = setInterval(() => {
      for (const tunnel of tunnels) {
        if (tunnel.relay.state === "closed") continue;
        probe(tunnel.client);
        probe(tunnel.upstream);
      }
    }, limits.pingInterval);
    keepAlive.unref();
  };
  const stopKeepAlive = () => {
    if (keepAlive && tunnels.size === 0) {
      clearInterval(keepAlive);
      keepAlive = undefined;
    }
  };

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = requestUrl(req);
    if (url === null || !gate.matches(url.pathname)) return false;
    // Nothing a client sends may throw out of the server's 'upgrade' listener (that would end the process).
    try {
      upgrade(req, socket, head, url);
    } catch (error) {
      pending.delete(socket);
      logError("tunnel upgrade failed", error);
      socket.destroy();
    }
    return true;
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    if (closing) {
      socket.destroy();
      return;
    }
    if ((req.method ?? "GET").toUpperCase() !== "GET") {
      // What the gate answers too; TRACE would not even make a `Request`.
      void writeResponse(socket, errorResponse(upgradeOnly())).catch(() => socket.destroy());
      return;
    }
    pending.add(socket);
    const onSocketError = () => socket.destroy();
    socket.on("error", onSocketError);
    const settle = () => {
      pending.delete(socket);
      socket.off("error", onSocketError);
    };
    // The raw target: URL parsing resolves `..`, `%2e` and `\`, and the gate refuses what parsing would change.
    gate
      .decide(toRequest(req, url), process.env, req.url)
      .then(async (decision) => {
        if (decision.action === "pass") {
          settle();
          return rejectRaw(socket, 404);
        }
        if (decision.action === "reject") {
          settle();
          return writeResponse(socket, decision.response);
        }
        const release = decision.action === "connect" ? decision.release : () => {};
        if (socket.destroyed || !socket.writable || closing) {
          settle();
          release();
          socket.destroy();
          return;
        }
        let upgraded = false;
        // ws destroys the socket without calling back when the handshake is invalid or the peer left.
        socket.once("close", () => {
          settle();
          if (!upgraded) release();
        });
        wss.handleUpgrade(req, socket, head, (client) => {
          upgraded = true;
          settle();
          if (decision.action === "refuse") return refuse(client, decision.refusal);
          try {
            open(client, decision);
          } catch (error) {
            // e.g. `ws` refusing the upstream URL: nothing was tracked yet, so give the slot back here.
            release();
            logError("tunnel upstream failed", error);
            refuse(client, refusalFor(new FalgateError("internal_error", "Internal proxy error.")));
          }
        });
      })
      .catch((error: unknown) => {
        settle();
        socket.destroy();
        logError("tunnel upgrade failed", error);
      });
  }

  /** Accepted, then refused in-band: the frame, then the close (see docs/realtime.md). */
  function refuse(client: WebSocket, { frame, code, reason }: TunnelRefusal): void {
    refused.add(client);
    client.once("close", () => refused.delete(client));
    client.on("error", () => client.terminate());
    client.send(frame, { binary: false });
    client.close(code, reason);
  }

  let tlsContext: SecureContext | undefined;
  function sharedTls(): SecureContext {
    tlsContext ??= createSecureContext();
    return tlsContext;
  }

  function open(clientWs: WebSocket, decision: Extract<TunnelDecision, { action: "connect" }>): void {
    const info: TunnelInfo = { principal: decision.principal, app: decision.app };
    const upstreamWs = new WebSocket(decision.upstream.url, {
      headers: decision.upstream.headers,
      perMessageDeflate: false,
      maxPayload: limits.maxPayload,
      handshakeTimeout: limits.connectTimeout,
      followRedirects: false,
      ...(decision.upstream.url.startsWith("wss:") ? { secureContext: sharedTls() } : {}),
    });
    const client: Side = { ws: clientWs, alive: true, paused: false };
    const upstream: Side = { ws: upstreamWs, alive: true, paused: false };
    let markDone!: () => void;
    const done = new Promise<void>((resolve) => {
      markDone = resolve;
    });
    const relay = createRelay<Message>({
      limits,
      size: (m) => m.data.length,
      client: peer(client, upstream, limits.highWaterMark),
      upstream: peer(upstream, client, limits.highWaterMark),
      onEnd: (end) => decision.ended(end),
    });
    const tunnel: Tunnel = { info, relay, client, upstream, done };
    tunnels.add(tunnel);
    startKeepAlive();
    // The tunnel is tracked until both sockets are closed, not just until the relay gave up on it.
    let open = 2;
    const socketClosed = () => {
      if (--open > 0) return;
      tunnels.delete(tunnel);
      stopKeepAlive();
      markDone();
    };

    clientWs.on("message", (data: Buffer, binary: boolean) => {
      client.alive = true;
      relay.fromClient({ data, binary });
    });
    clientWs.on("pong", () => {
      client.alive = true;
    });
    // Protocol errors (e.g. a frame over maxPayload) make ws close the socket; 'close' follows.
    clientWs.on("error", () => {});
    clientWs.on("close", (code: number, reason: Buffer) => {
      relay.clientClosed(code, reason.toString());
      resumeIfPaused(upstream);
      socketClosed();
    });

    upstreamWs.on("open", () => {
      relay.upstreamOpened();
      decision.opened();
    });
    upstreamWs.on("message", (data: Buffer, binary: boolean) => {
      upstream.alive = true;
      relay.fromUpstream({ data, binary });
    });
    upstreamWs.on("pong", () => {
      upstream.alive = true;
    });
    upstreamWs.on("unexpected-response", (_req, res) => {
      // Only the status reaches the browser: never fal's body or headers.
      relay.upstreamFailed(`fal refused the connection (${res.statusCode ?? 0})`);
      res.resume();
      upstreamWs.terminate();
    });
    upstreamWs.on("error", (error: Error & { code?: string }) => {
      if (relay.state === "connecting") {
        relay.upstreamFailed(
          /timed out/i.test(error.message) ? "fal did not answer in time" : "fal is unreachable",
        );
      } else if (error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        // ws closes fal with 1009 but stops reading, so fal's close would arrive as 1006 (→ 1011): tell the browser now.
        relay.upstreamClosed(CloseCode.messageTooBig, "Message too big");
      }
    });
    upstreamWs.on("close", (code: number, reason: Buffer) => {
      relay.upstreamClosed(code, reason.toString());
      resumeIfPaused(client);
      socketClosed();
    });
  }

  return {
    handleUpgrade,
    get size() {
      return tunnels.size;
    },
    snapshot() {
      return [...tunnels].map((t) => ({
        ...t.info,
        state: t.relay.state,
        clientBuffered: t.client.ws.bufferedAmount,
        upstreamBuffered: t.upstream.ws.bufferedAmount,
        clientPaused: t.client.paused,
        upstreamPaused: t.upstream.paused,
      }));
    },
    close() {
      shutdown ??= shutdownAll();
      return shutdown;
    },
  };

  async function shutdownAll(): Promise<void> {
    closing = true;
    for (const socket of pending) socket.destroy();
    pending.clear();
    for (const ws of refused) ws.terminate();
    const all = [...tunnels];
    for (const tunnel of all) tunnel.relay.end("shutdown", CloseCode.goingAway, "Server shutting down");
    // Give close handshakes a moment, then cut whatever is left.
    const timer = setTimeout(() => {
      for (const tunnel of all) {
        tunnel.client.ws.terminate();
        tunnel.upstream.ws.terminate();
      }
    }, 1_000);
    await Promise.all(all.map((t) => t.done));
    clearTimeout(timer);
    if (keepAlive) clearInterval(keepAlive);
    keepAlive = undefined;
    wss.close();
  }

  /** Logs without ever throwing (a logger that throws must not take the upgrade path down). */
  function logError(message: string, error: unknown): void {
    try {
      logger.error(message, { error: error instanceof Error ? error.name : typeof error });
    } catch {
      // Nothing left to tell.
    }
  }
}

/**
 * Attaches the tunnel to a Node HTTP(S) server (standalone, Express, `serve()` of `@hono/node-server`, a Next.js
 * custom server). Upgrades outside the mount are left to other listeners, or answered 404 when there are none.
 * @example
 * const server = app.listen(3000);
 * attachTunnel(server, falgate); // the instance the HTTP handler uses

 */
export function attachTunnel(server: NetServer, falgate: Falgate<never> | FalgateOptions = {}): NodeTunnel {
  const tunnel = createTunnel(falgate);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (tunnel.handleUpgrade(req, socket, head)) return;
    if (server.listenerCount("upgrade") === 1) rejectRaw(socket, 404);
  };
  server.on("upgrade", onUpgrade);
  server.once("close", () => server.off("upgrade", onUpgrade));
  // Upgraded sockets keep the server from emitting 'close': close the tunnels (1001) when it is asked to stop.
  const closeServer = server.close;
  server.close = function close(this: NetServer, callback?: (error?: Error) => void) {
    void tunnel.close();
    return closeServer.call(this, callback);
  };
  return tunnel;
}

/** A relay peer over a `ws` socket that pauses `other` while this side is backed up. */
function peer(self: Side, other: Side, highWaterMark: number): RelayPeer<Message> {
  const lowWaterMark = highWaterMark >> 1;
  const afterWrite = () => {
    if (other.paused && self.ws.bufferedAmount <= lowWaterMark) {
      other.paused = false;
      other.ws.resume();
    }
  };
  return {
    send(message) {
      if (self.ws.readyState !== WebSocket.OPEN) return;
      self.ws.send(message.data, { binary: message.binary }, afterWrite);
      if (!other.paused && self.ws.bufferedAmount > highWaterMark) {
        other.paused = true;
        other.ws.pause();
      }
    },
    close(code, reason) {
      const state = self.ws.readyState;
      if (state === WebSocket.CONNECTING) self.ws.terminate();
      else if (state === WebSocket.OPEN) self.ws.close(code, reason);
    },
  };
}

function resumeIfPaused(side: Side): void {
  if (side.paused) {
    side.paused = false;
    side.ws.resume();
  }
}

/** One keep-alive round: a peer that did not answer the last ping is terminated. */
function probe(side: Side): void {
  // A side we paused cannot have its pong read; the other side's drain will resume it.
  if (side.paused || side.ws.readyState !== WebSocket.OPEN) return;
  if (!side.alive) {
    side.ws.terminate();
    return;
  }
  side.alive = false;
  side.ws.ping();
}

/**
 * The request's URL from the Host header and an origin-form target (`/path?query`). Anything else
 * (`//host/...`, absolute-form) is not a tunnel URL: resolving it would let the target name the host.
 */
function requestUrl(req: IncomingMessage): URL | null {
  const target = req.url ?? "";
  if (!target.startsWith("/") || target.startsWith("//")) return null;
  const host = req.headers.host;
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
  // A Host with a path, query or userinfo in it must not move the target below the mount.
  const authority = host && !/[\s/\\?#@]/.test(host) ? host : "localhost";
  try {
    return new URL(`${scheme}://${authority}${target}`);
  } catch {
    return null;
  }
}

function toRequest(req: IncomingMessage, url: URL): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return new Request(url, { method: req.method ?? "GET", headers });
}

async function writeResponse(socket: Duplex, response: Response): Promise<void> {
  // The server dropped its own 'error' listener when it emitted 'upgrade': a reset must not go unhandled.
  const onError = () => socket.destroy();
  socket.on("error", onError);
  const body = Buffer.from(await response.arrayBuffer());
  socket.off("error", onError);
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ""}`];
  response.headers.forEach((value, name) => {
    if (name !== "content-length" && name !== "connection") lines.push(`${name}: ${value}`);
  });
  lines.push(`content-length: ${body.length}`, "connection: close", "", "");
  endSocket(socket, Buffer.concat([Buffer.from(lines.join("\r\n")), body]));
}

function rejectRaw(socket: Duplex, status: number): void {
  endSocket(
    socket,
    Buffer.from(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    ),
  );
}

function endSocket(socket: Duplex, data: Buffer): void {
  if (socket.destroyed) return;
  socket.on("error", () => socket.destroy());
  socket.end(data, () => socket.destroy());
}
