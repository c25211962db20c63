import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type CallEnd,
  type CallRecord,
  type FalgateObserver,
  STATUS_BY_CODE,
  type TunnelRecord,
} from "@falgate/core";
import { isProxyMethod } from "@falgate/core/binding";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The codes of refusals by the limits. */
const LIMIT_CODES: ReadonlySet<string> = new Set([
  "rate_limited",
  "concurrency_limited",
  "budget_exhausted",
  "limits_unavailable",
]);

/** Every default of `@falgate/metrics`. */
export const METRICS_DEFAULTS = Object.freeze({
  /** Distinct `app` label values kept; later apps are counted as `other` (a bound on series). */
  maxApps: 100,
  buckets: Object.freeze({
    /** falgate's own time per call (authorize, policy, key), seconds. */
    own: Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]),
    /** fal's time to headers, seconds (sync runs can take minutes). */
    upstream: Object.freeze([0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]),
    /** Whole calls, seconds. */
    call: Object.freeze([0.005, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]),
    /** Tunnel sessions, seconds. */
    tunnel: Object.freeze([1, 5, 15, 30, 60, 300, 900, 1800, 3600]),
  }),
  /** Node process metrics (`falgate_process_*`, `falgate_nodejs_*`) in the same registry. */
  processMetrics: false,
});

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Register falgate's series here (your app's registry), instead of a registry of their own. */
  registry?: Registry;
  /** Distinct `app` label values kept before later ones count as `other`. @default 100 */
  maxApps?: number;
  /** Histogram buckets in seconds; see {@link METRICS_DEFAULTS}. */
  buckets?: {
    own?: readonly number[];
    upstream?: readonly number[];
    call?: readonly number[];
    tunnel?: readonly number[];
  };
  /** Also collect Node process metrics, prefixed `falgate_`. @default false */
  processMetrics?: boolean;
}

/** What {@link createMetrics} needs of an instance: `createFalgate()` returns one. */
export interface Observable {
  observe(observer: FalgateObserver): () => void;
}

/** Prometheus metrics of a falgate instance, and the handlers that serve them. */
export interface FalgateMetrics {
  /** The prom-client registry holding the series. */
  readonly registry: Registry;
  /** The `content-type` of {@link text}. */
  readonly contentType: string;
  /** The observer that feeds the series; subscribe it to more instances with `other.observe(metrics.observer)`. */
  readonly observer: FalgateObserver;
  /** The exposition text of the registry. */
  text(): Promise<string>;
  /** A Fetch handler: `GET`/`HEAD` answer the text, other methods 405 (Hono, Next route handlers, Workers-style). */
  readonly fetch: (request?: Request) => Promise<Response>;
  /** A Node handler (`node:http`, Express: `app.get("/metrics", metrics.node)`). */
  readonly node: (req: IncomingMessage, res: ServerResponse) => void;
  /** Stops observing the instance given to {@link createMetrics} (the series stay registered). */
  close(): void;
}

type Counter6 = Counter.Internal;
type HistogramChild = Histogram.Internal<string>;
type GaugeChild = Gauge.Internal<string>;

/** The children of one `(route, app)`, resolved once: prom-client's `labels()` is not cheap. */
interface CallGroup {
  bytesIn: Counter6;
  bytesOut: Counter6;
  inFlight: GaugeChild;
  upstream: HistogramChild;
  own: Map<string, HistogramChild>;
  total: Map<string, HistogramChild>;
  calls: Map<string, Counter6>;
}

interface AppGroup {
  billable: Counter6;
  mints: Map<string, Counter6>;
  tunnelsOpen: GaugeChild;
  tunnelSeconds: HistogramChild;
  tunnels: Map<string, Counter6>;
  framesIn: Counter6;
  framesOut: Counter6;
  tunnelBytesIn: Counter6;
  tunnelBytesOut: Counter6;
}

/**
 * Prometheus metrics for a falgate instance: one observer of its events (no second wiring into the request path)
 * and handlers to serve them. Series start with `falgate_`; labels are bounded (`app` is the `owner/app` id, capped
 * at `maxApps`; request ids and principals never become labels). Metrics live in the process: mount them on a
 * long-running server, not public (see docs/operating.md).
 * @example
 * const metrics = createMetrics(falgate);
 * app.get("/metrics", metrics.node);                        // Express
 * export const GET = metrics.fetch;                         // Next route handler
 */
export function createMetrics(falgate: Observable | null, options: MetricsOptions = {}): FalgateMetrics {
  if (options === null || typeof options !== "object") fail("options", "must be an object");
  const registry = options.registry ?? new Registry();
  if (typeof registry.metrics !== "function" || typeof registry.getSingleMetric !== "function") {
    fail("registry", "must be a prom-client Registry");
  }
  if (registry.getSingleMetric("falgate_calls_total")) {
    fail(
      "registry",
      "already holds falgate's series: create the metrics once per registry and share them (`metrics.observer` subscribes more instances)",
    );
  }
  const maxApps = options.maxApps ?? METRICS_DEFAULTS.maxApps;
  if (!Number.isInteger(maxApps) || maxApps < 0) fail("maxApps", "must be a whole number >= 0");
  const d = METRICS_DEFAULTS.buckets;
  const buckets = {
    own: bucketList("buckets.own", options.buckets?.own ?? d.own),
    upstream: bucketList("buckets.upstream", options.buckets?.upstream ?? d.upstream),
    call: bucketList("buckets.call", options.buckets?.call ?? d.call),
    tunnel: bucketList("buckets.tunnel", options.buckets?.tunnel ?? d.tunnel),
  };
  const registers = [registry];

  const calls = new Counter({
    name: "falgate_calls_total",
    help: "HTTP calls through falgate, by route, app, method, decision (forwarded, refused, answered), code and status.",
    labelNames: ["route", "app", "method", "decision", "code", "status"],
    registers,
  });
  const callSeconds = new Histogram({
    name: "falgate_call_seconds",
    help: "Whole calls, from the decision to the last byte of the answer.",
    labelNames: ["route", "app", "decision"],
    buckets: buckets.call,
    registers,
  });
  const ownSeconds = new Histogram({
    name: "falgate_own_seconds",
    help: "falgate's own time per call before it is sent (authorize, policy, key), or until it answered itself.",
    labelNames: ["route", "app", "decision"],
    buckets: buckets.own,
    registers,
  });
  const upstreamSeconds = new Histogram({
    name: "falgate_upstream_seconds",
    help: "fal's time per forwarded call, from sending until fal answered with headers.",
    labelNames: ["route", "app"],
    buckets: buckets.upstream,
    registers,
  });
  const requestBytes = new Counter({
    name: "falgate_request_bytes_total",
    help: "Request body bytes sent to fal.",
    labelNames: ["route", "app"],
    registers,
  });
  const responseBytes = new Counter({
    name: "falgate_response_bytes_total",
    help: "Response body bytes sent to clients.",
    labelNames: ["route", "app"],
    registers,
  });
  const inFlight = new Gauge({
    name: "falgate_calls_in_flight",
    help: "Calls sent to fal whose answer is not complete yet.",
    labelNames: ["route", "app"],
    registers,
  });
  const billable = new Counter({
    name: "falgate_billable_units_total",
    help: "Billable units fal reported (x-fal-billable-units).",
    labelNames: ["app"],
    registers,
  });
  const mints = new Counter({
    name: "falgate_token_mints_total",
    help: "Tokens minted: kind falgate (tunnel tokens) or fal (fal realtime tokens).",
    labelNames: ["app", "kind"],
    registers,
  });
  const tunnelsOpen = new Gauge({
    name: "falgate_tunnels_open",
    help: "Realtime tunnels open now.",
    labelNames: ["app"],
    registers,
  });
  const tunnels = new Counter({
    name: "falgate_tunnels_total",
    help: "Realtime tunnel sessions ended, by why they ended.",
    labelNames: ["app", "reason"],
    registers,
  });
  const tunnelSeconds = new Histogram({
    name: "falgate_tunnel_seconds",
    help: "Realtime tunnel session lengths.",
    labelNames: ["app"],
    buckets: buckets.tunnel,
    registers,
  });
  const tunnelFrames = new Counter({
    name: "falgate_tunnel_frames_total",
    help: "Tunnel messages relayed: direction in (browser to fal) or out (fal to browser).",
    labelNames: ["app", "direction"],
    registers,
  });
  const limitRefusals = new Counter({
    name: "falgate_limit_refusals_total",
    help: "Calls and tunnels the limits refused, by route and code (rate_limited, concurrency_limited, budget_exhausted, limits_unavailable).",
    labelNames: ["route", "code"],
    registers,
  });
  const spend = new Counter({
    name: "falgate_budget_spend_total",
    help: "Spend recorded against budgets: fal's billable units times the endpoint's price.",
    labelNames: ["app"],
    registers,
  });
  const tunnelRefusals = new Counter({
    name: "falgate_tunnel_refusals_total",
    help: "Tunnel upgrades refused, by app and falgate's code.",
    labelNames: ["app", "code"],
    registers,
  });
  const tunnelBytes = new Counter({
    name: "falgate_tunnel_bytes_total",
    help: "Tunnel payload bytes relayed: direction in (browser to fal) or out (fal to browser).",
    labelNames: ["app", "direction"],
    registers,
  });
  if (options.processMetrics ?? METRICS_DEFAULTS.processMetrics) {
    collectDefaultMetrics({ register: registry, prefix: "falgate_" });
  }

  // Bounded labels. An app is admitted to the label set on first sight, up to maxApps; the set only grows, so a
  // call's start and end always get the same label.
  const apps = new Set<string>();
  const appLabel = (appId: string | null): string => {
    if (appId === null) return "none";
    if (apps.has(appId)) return appId;
    if (apps.size >= maxApps) return "other";
    apps.add(appId);
    return appId;
  };
  const callApp = (call: CallRecord, end: CallEnd | null): string => {
    // A target the endpoint policy refused is the caller's choice of name, not an app this proxy serves.
    if (
      end !== null &&
      end.decision === "refused" &&
      (end.code === "endpoint_not_allowed" || end.code === "invalid_target")
    ) {
      return "none";
    }
    return appLabel(call.appId);
  };

  const callGroups = new Map<string, CallGroup>();
  const callGroup = (route: string, app: string): CallGroup => {
    const key = `${route} ${app}`;
    let group = callGroups.get(key);
    if (group === undefined) {
      group = {
        bytesIn: requestBytes.labels(route, app),
        bytesOut: responseBytes.labels(route, app),
        inFlight: inFlight.labels(route, app),
        upstream: upstreamSeconds.labels(route, app),
        own: new Map(),
        total: new Map(),
        calls: new Map(),
      };
      callGroups.set(key, group);
    }
    return group;
  };
  const appGroups = new Map<string, AppGroup>();
  const appGroup = (app: string): AppGroup => {
    let group = appGroups.get(app);
    if (group === undefined) {
      group = {
        billable: billable.labels(app),
        mints: new Map(),
        tunnelsOpen: tunnelsOpen.labels(app),
        tunnelSeconds: tunnelSeconds.labels(app),
        tunnels: new Map(),
        framesIn: tunnelFrames.labels(app, "in"),
        framesOut: tunnelFrames.labels(app, "out"),
        tunnelBytesIn: tunnelBytes.labels(app, "in"),
        tunnelBytesOut: tunnelBytes.labels(app, "out"),
      };
      appGroups.set(app, group);
    }
    return group;
  };
  const child = <T>(map: Map<string, T>, key: string, make: () => T): T => {
    let value = map.get(key);
    if (value === undefined) {
      value = make();
      map.set(key, value);
    }
    return value;
  };

  const started = new WeakMap<CallRecord, CallGroup>();
  const open = new WeakMap<TunnelRecord, AppGroup>();

  const observer: FalgateObserver = (event) => {
    switch (event.type) {
      case "call.start": {
        const { call } = event;
        const group = callGroup(call.route, callApp(call, null));
        group.inFlight.inc();
        started.set(call, group);
        return;
      }
      case "call.end": {
        const { call, end } = event;
        const route = call.route;
        const app = callApp(call, end);
        const group = callGroup(route, app);
        const startedGroup = started.get(call);
        if (startedGroup !== undefined) {
          startedGroup.inFlight.dec();
          started.delete(call);
        }
        const decision = end.decision;
        const method = isProxyMethod(call.method) ? call.method : "other";
        const code = codeLabel(end);
        const status = end.status >= 100 && end.status <= 599 ? String(end.status) : "other";
        child(group.calls, `${method} ${decision} ${code} ${status}`, () =>
          calls.labels(route, app, method, decision, code, status),
        ).inc();
        if (end.code !== null && LIMIT_CODES.has(end.code)) limitRefusals.labels(route, end.code).inc();
        child(group.total, decision, () => callSeconds.labels(route, app, decision)).observe(
          end.totalMs / 1000,
        );
        child(group.own, decision, () => ownSeconds.labels(route, app, decision)).observe(
          end.falgateMs / 1000,
        );
        if (decision === "forwarded" && end.code === null) group.upstream.observe(end.upstreamMs / 1000);
        if (end.bytesIn > 0) group.bytesIn.inc(end.bytesIn);
        if (end.bytesOut > 0) group.bytesOut.inc(end.bytesOut);
        if (end.billableUnits !== null && end.billableUnits > 0 && Number.isFinite(end.billableUnits)) {
          appGroup(app).billable.inc(end.billableUnits);
        }
        if ((route === "token" || call.action === "token") && end.code === null && end.status < 300) {
          const kind = decision === "answered" ? "falgate" : "fal";
          const apps = appGroup(app);
          child(apps.mints, kind, () => mints.labels(app, kind)).inc();
        }
        return;
      }
      case "tunnel.open": {
        const group = appGroup(appLabel(event.tunnel.appId));
        group.tunnelsOpen.inc();
        open.set(event.tunnel, group);
        return;
      }
      case "tunnel.end": {
        const { tunnel, end } = event;
        const group = open.get(tunnel) ?? appGroup(appLabel(tunnel.appId));
        if (open.delete(tunnel)) group.tunnelsOpen.dec();
        const app = appLabel(tunnel.appId);
        child(group.tunnels, end.reason, () => tunnels.labels(app, end.reason)).inc();
        group.tunnelSeconds.observe(end.durationMs / 1000);
        if (end.messagesIn > 0) group.framesIn.inc(end.messagesIn);
        if (end.messagesOut > 0) group.framesOut.inc(end.messagesOut);
        if (end.bytesIn > 0) group.tunnelBytesIn.inc(end.bytesIn);
        if (end.bytesOut > 0) group.tunnelBytesOut.inc(end.bytesOut);
        return;
      }
      case "tunnel.refused": {
        tunnelRefusals.labels(appLabel(event.appId), event.code).inc();
        if (LIMIT_CODES.has(event.code)) limitRefusals.labels("tunnel", event.code).inc();
        return;
      }
      case "spend": {
        spend.labels(appLabel(event.appId)).inc(event.amount);
        return;
      }
      default:
        // Event types added later get their series here.
        return;
    }
  };

  const unsubscribe = falgate === null ? () => undefined : falgate.observe(observer);
  const text = () => registry.metrics();
  const contentType = registry.contentType as string;

  return {
    registry,
    contentType,
    observer,
    text,
    fetch: async (request) => {
      const method = request?.method ?? "GET";
      if (method !== "GET" && method !== "HEAD") {
        return new Response("Method Not Allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
      }
      const body = await text();
      return new Response(method === "HEAD" ? null : body, {
        headers: { "content-type": contentType, "cache-control": "no-store" },
      });
    },
    node: (req, res) => {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("Method Not Allowed\n");
        return;
      }
      text().then(
        (body) => {
          res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
          res.end(req.method === "HEAD" ? undefined : body);
        },
        (error: unknown) => {
          if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
          res.end(`metrics failed: ${error instanceof Error ? error.message : String(error)}\n`);
        },
      );
    },
    close: unsubscribe,
  };
}

const KNOWN_CODES = new Set<string>([...Object.keys(STATUS_BY_CODE), "client_closed"]);

/** The refusal's or failure's code (a closed set), the reason an answer was cut short, or `none`. */
function codeLabel(end: CallEnd): string {
  const code = end.code ?? end.error;
  if (code === null) return "none";
  return KNOWN_CODES.has(code) ? code : "other";
}

function bucketList(option: string, value: readonly number[]): number[] {
  if (!Array.isArray(value) || value.length === 0) fail(option, "must be a non-empty array of seconds");
  const list = [...value];
  for (let i = 0; i < list.length; i++) {
    const v = list[i]!;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (i > 0 && v <= list[i - 1]!)) {
      fail(option, "must be increasing positive numbers");
    }
  }
  return list;
}

function fail(option: string, message: string): never {
  throw new TypeError(`falgate metrics: option \`${option}\` ${message}`);
}
