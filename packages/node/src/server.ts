import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  DEFAULT_MAX_BODY_SIZE,
  errorResponse,
  FalgateError,
  type FalgateHandler,
  type FalgateOptions,
} from "@falgate/core";
import { createNodeFalgate, toNodeHandler } from "./handler.js";
import { writeWebResponse } from "./response.js";
import { createUndiciFetch } from "./transport.js";
import { attachTunnel, type NodeTunnel } from "./tunnel.js";

/** Options of {@link startServer}: every `createFalgate` option plus where and how to listen. */
export interface ServerOptions extends FalgateOptions {
  /** TCP port; `0` picks a free one. @default 3000 */
  port?: number;
  /** Interface to bind. Use `0.0.0.0` (or `::`) to accept connections from other machines. @default "127.0.0.1" */
  host?: string;
  /** Where the proxy answers; sub-paths (`/api/fal/proxy/anything`) are served too. @default "/api/fal/proxy" */
  path?: string;
  /** Trust `x-forwarded-proto` / `x-forwarded-host` (only behind a reverse proxy you control). @default false */
  trustProxy?: boolean;
  /** How long `close()` waits for in-flight requests before cutting them off, in ms. @default 10_000 */
  shutdownTimeout?: number;
  /** Serve this handler instead of `createNodeFalgate(options)` (the falgate options are then ignored). */
  handler?: FalgateHandler;
}

/** A running standalone server. */
export interface RunningServer {
  server: Server;
  /** Base URL, e.g. `http://127.0.0.1:3000` (the proxy is at `url + path`). */
  url: string;
  /** Graceful shutdown: stop accepting, let in-flight requests finish (up to `shutdownTimeout`), then cut the rest. */
  close(): Promise<void>;
}

/**
 * Starts the standalone falgate server: the proxy at `path` (and below), the realtime tunnel at
 * `path/{app}/realtime` (when `tokens` are configured), `GET /healthz`, JSON 404 elsewhere, and a graceful `close()`.
 * @example
 * const { url, close } = await startServer({ port: 3000, allowedOrigins: ["https://app.example.com"] });
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const {
    port = 3000,
    host = "127.0.0.1",
    path = "/api/fal/proxy",
    trustProxy = false,
    shutdownTimeout = 10_000,
    handler,
    ...falgateOptions
  } = options;
  if (!path.startsWith("/"))
    throw new TypeError(`falgate: option \`path\` must start with "/", got ${JSON.stringify(path)}`);
  const base = path.length > 1 ? path.replace(/\/+$/, "") : "";
  // Our own connection pool, so close() leaves nothing behind (a caller's `fetch` stays the caller's).
  const transport = handler || falgateOptions.fetch ? undefined : createUndiciFetch();
  const proxy = toNodeHandler(
    handler ?? createNodeFalgate({ ...falgateOptions, ...(transport ? { fetch: transport } : {}) }),
    {
      // falgate's core caps its own bodies; count bytes here only for a custom handler, not twice per chunk.
      maxBodySize: handler ? (falgateOptions.maxBodySize ?? DEFAULT_MAX_BODY_SIZE) : 0,
      trustProxy,
    },
  );

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

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pathname = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      // 503 while draining, so a load balancer stops sending new traffic.
      const status = closing ? 503 : 200;
      return writeWebResponse(
        res,
        Response.json(
          { status: closing ? "shutting_down" : "ok" },
          { status, headers: { "cache-control": "no-store" } },
        ),
      );
    }
    if (pathname === base || pathname.startsWith(`${base}/`)) return proxy(req, res);
    return writeWebResponse(
      res,
      errorResponse(new FalgateError("not_found", `Nothing here; the proxy is at ${path}.`)),
    );
  }

  // The realtime tunnel shares the server (upgrades below `path`); without token keys it answers 404.
  const tunnel: NodeTunnel | undefined = handler
    ? undefined
    : attachTunnel(server, {
        ...falgateOptions,
        tunnel: { ...falgateOptions.tunnel, path: falgateOptions.tunnel?.path ?? (base || "/") },
      });

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
      await tunnel?.close();
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
      await transport?.close();
    })();
    return closing;
  };

  return { server, url: `http://${urlHost(address)}:${address.port}`, close };
}

function urlHost(address: AddressInfo): string {
  if (address.address === "0.0.0.0") return "127.0.0.1";
  if (address.address === "::") return "[::1]";
  return address.family === "IPv6" ? `[${address.address}]` : address.address;
}
