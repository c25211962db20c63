import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createAccessLog,
  createFalgate,
  createTracing,
  type Falgate,
  FalgateError,
  type FalgateOptions,
} from "@falgate/core";
import { bindingOf, errorReply, jsonReply } from "@falgate/core/binding";
import type { FalgateMetrics } from "@falgate/metrics";
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

/** Where the Prometheus metrics get a listener of their own (not reachable through the proxy's port). */
export interface MetricsListenOptions {
  /** TCP port of the metrics listener; `0` picks a free one. */
  port: number;
  /** Interface of the metrics listener. @default the server's `host` */
  host?: string;
}

/** Options of {@link startServer}: every `createFalgate` option plus where and how to listen. */
export interface ServerOptions extends FalgateOptions<NodeContext>, ListenOptions {
  /** Serve this instance (its options are used as given) instead of creating one from these options. */
  falgate?: Falgate<NodeContext>;
  /**
   * Prometheus metrics at `GET /metrics` (`@falgate/metrics`, with Node process metrics): `true` on the proxy's
   * port, `{ port, host? }` on a listener of their own (keep it off the public network). @default false
   */
  metrics?: boolean | MetricsListenOptions;
  /** One access-log line per call and per tunnel session through the logger's `info` (`createAccessLog`). @default false */
  accessLog?: boolean;
  /** OpenTelemetry spans through `@opentelemetry/api` (`createTracing`); register an SDK to export them. @default false */
  tracing?: boolean;
}

/** The standalone server's own defaults. */
export const SERVER_DEFAULTS = Object.freeze({
  port: 3000,
  host: "127.0.0.1",
  shutdownTimeout: 10_000,
  metrics: false,
  /** Where the metrics are served, on the proxy's port or their own. */
  metricsPath: "/metrics",
  accessLog: false,
  tracing: false,
});

/** A running standalone server. */
export interface RunningServer {
  server: Server;
  /** The instance it serves (share it, e.g. to observe its events). */
  falgate: Falgate<NodeContext>;
  /** Base URL, e.g. `http://127.0.0.1:3000` (the proxy is at `url + path`). */
  url: string;
  /** The Prometheus metrics when `metrics` is on (to read them in-process), else `null`. */
  metrics: FalgateMetrics | null;
  /** Where the metrics are served (`http://127.0.0.1:9464/metrics`), or `null`. */
  metricsUrl: string | null;
  /** Graceful shutdown: stop accepting, let in-flight requests finish (up to `shutdownTimeout`), then cut the rest. */
  close(): Promise<void>;
}

/**
 * Starts the standalone falgate server: the proxy at `path` (and below), the realtime tunnel at
 * `path/{app}/realtime` (when falgate tokens are configured), `GET /healthz`, `GET /metrics` when asked (here or on
 * a port of its own), JSON 404 elsewhere, and a graceful `close()`. Access log and tracing are observers of the
 * instance's events, removed again by `close()`.
 * @example
 * const { url, close } = await startServer({ port: 3000, allowedOrigins: ["https://app.example.com"] });
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const {
    port = SERVER_DEFAULTS.port,
    host = SERVER_DEFAULTS.host,
    shutdownTimeout = SERVER_DEFAULTS.shutdownTimeout,
    falgate: given,
    metrics: metricsOption = SERVER_DEFAULTS.metrics,
    accessLog = SERVER_DEFAULTS.accessLog,
    tracing = SERVER_DEFAULTS.tracing,
    ...falgateOptions
  } = options;
  const metricsListen = metricsListenOptions(metricsOption);
  const falgate = given ?? createFalgate<NodeContext>(falgateOptions);
  const { path, logger } = bindingOf(falgate).settings;
  const base = path === "/" ? "" : path;

  // Everything that watches is an observer of the instance's one event stream.
  const unsubscribe: Array<() => void> = [];
  const stopObserving = () => {
    for (const stop of unsubscribe.splice(0)) stop();
  };
  if (accessLog) unsubscribe.push(falgate.observe(createAccessLog(logger)));
  if (tracing) unsubscribe.push(falgate.observe(createTracing()));
  let metrics: FalgateMetrics | null = null;
  if (metricsOption !== false) {
    try {
      // Loaded only when asked: prom-client stays out of processes that do not serve metrics.
      const { createMetrics } = await import("@falgate/metrics");
      metrics = createMetrics(falgate, { processMetrics: true });
    } catch (error) {
      stopObserving();
      throw error;
    }
    unsubscribe.push(metrics.close);
  }
  const metricsHere = metrics !== null && metricsListen === null ? metrics : null;
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
    if (metricsHere !== null && pathname === SERVER_DEFAULTS.metricsPath) {
      metricsHere.node(req, res);
      return Promise.resolve();
    }
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

  let metricsServer: Server | null = null;
  try {
    await listen(server, port, host);
    if (metrics !== null && metricsListen !== null) {
      metricsServer = metricsListener(metrics);
      await listen(metricsServer, metricsListen.port, metricsListen.host ?? host);
    }
  } catch (error) {
    stopObserving();
    await tunnel.close();
    server.close();
    metricsServer?.close();
    if (!given) await closeDispatcher(falgate);
    throw error;
  }
  const address = server.address() as AddressInfo;
  const url = `http://${urlHost(address)}:${address.port}`;
  let metricsUrl: string | null = null;
  if (metricsServer !== null) {
    const metricsAddress = metricsServer.address() as AddressInfo;
    metricsUrl = `http://${urlHost(metricsAddress)}:${metricsAddress.port}${SERVER_DEFAULTS.metricsPath}`;
  } else if (metrics !== null) {
    metricsUrl = `${url}${SERVER_DEFAULTS.metricsPath}`;
  }

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const metricsStopped = metricsServer
        ? new Promise<void>((resolve) => metricsServer!.close(() => resolve()))
        : Promise.resolve();
      metricsServer?.closeAllConnections();
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
      await metricsStopped;
      // After the last call settled, so its line and span are not lost.
      stopObserving();
      if (!given) await closeDispatcher(falgate);
    })();
    return closing;
  };

  return { server, falgate, url, metrics, metricsUrl, close };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** The metrics' own listener: `GET /metrics` and `GET /healthz`, nothing else (never the proxy). */
function metricsListener(metrics: FalgateMetrics): Server {
  return createServer((req, res) => {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const pathname = query === -1 ? url : url.slice(0, query);
    if (pathname === SERVER_DEFAULTS.metricsPath) return metrics.node(req, res);
    if (pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      return void writeReply(res, jsonReply(200, { status: "ok" }));
    }
    return void writeReply(
      res,
      errorReply(
        new FalgateError("not_found", `Nothing here; the metrics are at ${SERVER_DEFAULTS.metricsPath}.`),
      ),
    );
  });
}

function metricsListenOptions(value: ServerOptions["metrics"]): MetricsListenOptions | null {
  if (value === undefined || typeof value === "boolean") return null;
  if (value === null || typeof value !== "object") {
    throw new TypeError("falgate: option `metrics` must be a boolean or { port, host? }");
  }
  const { port, host } = value;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`falgate: option \`metrics.port\` must be a port number, got ${String(port)}`);
  }
  if (host !== undefined && (typeof host !== "string" || host === "")) {
    throw new TypeError("falgate: option `metrics.host` must be a non-empty string");
  }
  return value;
}

function urlHost(address: AddressInfo): string {
  if (address.address === "0.0.0.0") return "127.0.0.1";
  if (address.address === "::") return "[::1]";
  return address.family === "IPv6" ? `[${address.address}]` : address.address;
}
