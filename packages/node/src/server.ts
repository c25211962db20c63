import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createFalgate, type Falgate, FalgateError, type FalgateOptions } from "@falgate/core";
import { bindingOf, errorReply, jsonReply } from "@falgate/core/binding";
import { closeDispatcher, createNodeHandler, type NodeContext } from "./handler.js";
import { writeReply } from "./reply.js";
import { attachTunnel } from "./tunnel.js";

/** Where and how the standalone server listens; every default is in {@link SERVER_DEFAULTS}. */
export interface ListenOptions {
  /** TCP port; `0` picks a free one. @default 3000 */
  port?: number;
  /** Interface to bind. Use `0.0.0.0` (or `::`) to accept connections from other machines. @default "127.0.0.1" */
  host?: string;
  /** How long `close()` waits for in-flight requests before cutting them off, in ms. @default 10_000 */
  shutdownTimeout?: number;
}

/** Options of {@link startServer}: every `createFalgate` option plus where and how to listen. */
export interface ServerOptions extends FalgateOptions<NodeContext>, ListenOptions {
  /** Serve this instance (its options are used as given) instead of creating one from these options. */
  falgate?: Falgate<NodeContext>;
}

/** The standalone server's own defaults. */
export const SERVER_DEFAULTS = Object.freeze({ port: 3000, host: "127.0.0.1", shutdownTimeout: 10_000 });

/** A running standalone server. */
export interface RunningServer {
  server: Server;
  /** The instance it serves (share it, e.g. to observe its events). */
  falgate: Falgate<NodeContext>;
  /** Base URL, e.g. `http://127.0.0.1:3000` (the proxy is at `url + path`). */
  url: string;
  /** Graceful shutdown: stop accepting, let in-flight requests finish (up to `shutdownTimeout`), then cut the rest. */
  close(): Promise<void>;
}

/**
 * Starts the standalone falgate server: the proxy at `path` (and below), the realtime tunnel at
 * `path/{app}/realtime` (when falgate tokens are configured), `GET /healthz`, JSON 404 elsewhere, and a graceful
 * `close()`.
 * @example
 * const { url, close } = await startServer({ port: 3000, allowedOrigins: ["https://app.example.com"] });
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const {
    port = SERVER_DEFAULTS.port,
    host = SERVER_DEFAULTS.host,
    shutdownTimeout = SERVER_DEFAULTS.shutdownTimeout,
    falgate: given,
    ...falgateOptions
  } = options;
  const falgate = given ?? createFalgate<NodeContext>(falgateOptions);
  const { path } = bindingOf(falgate).settings;
  const base = path === "/" ? "" : path;
  const proxy = createNodeHandler(falgate);

  const inFlight = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;
  let drained: (() => void) | undefined;

  const server = createServer((req, res) => {
    inFlight.add(res);
    // During shutdown every answer closes its connection, so no keep-alive socket outlives it.
    if (closing) res.shouldKeepAlive = false;
    res.once("close", () => {
      inFlight.delete(res);
      if (closing) {
        server.closeIdleConnections();
        if (inFlight.size === 0) drained?.();
      }
    });
    void route(req, res);
  });

  function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const pathname = query === -1 ? url : url.slice(0, query);
    if (pathname === base || pathname.startsWith(`${base}/`)) return proxy(req, res);
    if (pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      // 503 while draining, so a load balancer stops sending new traffic.
      return writeReply(res, jsonReply(closing ? 503 : 200, { status: closing ? "shutting_down" : "ok" }));
    }
    return writeReply(
      res,
      errorReply(new FalgateError("not_found", `Nothing here; the proxy is at ${path}.`)),
    );
  }

  // The realtime tunnel shares the server (upgrades below `path`); without token keys it answers in-band 404s.
  const tunnel = attachTunnel(server, falgate);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await tunnel.close();
      server.closeIdleConnections();
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      if (inFlight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          drained = resolve;
          timer = setTimeout(resolve, shutdownTimeout);
          timer.unref();
        });
        clearTimeout(timer);
      }
      server.closeAllConnections();
      await stopped;
      if (!given) await closeDispatcher(falgate);
    })();
    return closing;
  };

  return { server, falgate, url: `http://${urlHost(address)}:${address.port}`, close };
}

function urlHost(address: AddressInfo): string {
  if (address.address === "0.0.0.0") return "127.0.0.1";
  if (address.address === "::") return "[::1]";
  return address.family === "IPv6" ? `[${address.address}]` : address.address;
}
