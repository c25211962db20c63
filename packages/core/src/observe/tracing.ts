import {
  type Attributes,
  context,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import type { CallEnd, CallRecord, FalgateObserver, TunnelRecord } from "../events/types.js";
import { DEFAULTS } from "../options/defaults.js";
import { isProxyMethod } from "../proxy/methods.js";
import type { RelayEndInfo } from "../tunnel/relay.js";

/** Options of {@link createTracing}. */
export interface TracingOptions {
  /** Create spans with this provider instead of the global one (`trace.setGlobalTracerProvider`). */
  tracerProvider?: TracerProvider;
  /** The instrumentation scope of the spans. @default "@falgate/core" */
  tracerName?: string;
}

/** What the global API hands out while no SDK is registered; compared by identity, once per event. */
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate();

/**
 * An observer that turns falgate's events into OpenTelemetry spans through `@opentelemetry/api` only: one span per
 * HTTP call (`falgate proxy`, `falgate token`, ...) and one per tunnel session (`falgate tunnel`), with the
 * endpoint, decision, status, byte counts and fal's request id as attributes, never a secret. A forwarded call's
 * span starts when the call is sent (child of the active context: your HTTP server span) and ends with its answer;
 * refusals and falgate's own answers get a span with the call's start time. While no SDK is registered each event
 * costs one identity check and allocates nothing.
 * @example
 * const falgate = createFalgate({ observers: [createTracing()] });
 */
export function createTracing(options: TracingOptions = {}): FalgateObserver {
  if (options === null || typeof options !== "object") {
    throw new TypeError("falgate: createTracing options must be an object");
  }
  const given = options.tracerProvider;
  if (given !== undefined && (given === null || typeof given.getTracer !== "function")) {
    throw new TypeError("falgate: option `tracerProvider` must be an OpenTelemetry TracerProvider");
  }
  const name = options.tracerName ?? DEFAULTS.observe.tracerName;
  if (typeof name !== "string" || name === "") {
    throw new TypeError("falgate: option `tracerName` must be a non-empty string");
  }
  let cachedFor: TracerProvider | undefined;
  let cached: Tracer | undefined;

  /** The tracer, or `null` while no SDK is registered (then nothing is allocated). */
  function tracer(): Tracer | null {
    const provider = given ?? trace.getTracerProvider();
    const real = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
    if (real === NOOP_PROVIDER) return null;
    if (real !== cachedFor) {
      cachedFor = real;
      cached = real.getTracer(name);
    }
    return cached!;
  }

  const calls = new WeakMap<CallRecord, Span>();
  const tunnels = new WeakMap<TunnelRecord, Span>();

  return (event) => {
    switch (event.type) {
      case "call.start": {
        const t = tracer();
        if (t === null) return;
        const { call } = event;
        const span = t.startSpan(
          `falgate ${call.route}`,
          { kind: SpanKind.CLIENT, startTime: call.startedAt, attributes: callAttributes(call) },
          context.active(),
        );
        calls.set(call, span);
        return;
      }
      case "call.end": {
        const { call, end } = event;
        let span = calls.get(call);
        if (span === undefined) {
          const t = tracer();
          if (t === null) return;
          span = t.startSpan(
            `falgate ${call.route}`,
            {
              kind: end.decision === "forwarded" ? SpanKind.CLIENT : SpanKind.INTERNAL,
              startTime: call.startedAt,
              attributes: callAttributes(call),
            },
            context.active(),
          );
        } else {
          calls.delete(call);
        }
        endCall(span, call, end);
        return;
      }
      case "tunnel.open": {
        const t = tracer();
        if (t === null) return;
        const { tunnel } = event;
        tunnels.set(
          tunnel,
          t.startSpan(
            "falgate tunnel",
            { kind: SpanKind.CLIENT, startTime: tunnel.startedAt, attributes: tunnelAttributes(tunnel) },
            context.active(),
          ),
        );
        return;
      }
      case "tunnel.end": {
        const { tunnel, end } = event;
        let span = tunnels.get(tunnel);
        if (span === undefined) {
          const t = tracer();
          if (t === null) return;
          span = t.startSpan(
            "falgate tunnel",
            { kind: SpanKind.CLIENT, startTime: tunnel.startedAt, attributes: tunnelAttributes(tunnel) },
            context.active(),
          );
        } else {
          tunnels.delete(tunnel);
        }
        endTunnel(span, tunnel, end);
        return;
      }
      default:
        // Event types added later (limits, budgets) are not traced yet.
        return;
    }
  };
}

/** What is known when the call is sent (also what a sampler sees). */
function callAttributes(call: CallRecord): Attributes {
  const attributes: Attributes = {
    "http.request.method": isProxyMethod(call.method) ? call.method : "_OTHER",
    "falgate.route": call.route,
  };
  if (call.principal !== null) attributes["falgate.principal"] = call.principal;
  if (call.appId !== null) attributes["falgate.app"] = call.appId;
  if (call.endpointId !== null) attributes["falgate.endpoint"] = call.endpointId;
  if (call.action !== null) attributes["falgate.action"] = call.action;
  return attributes;
}

function endCall(span: Span, call: CallRecord, end: CallEnd): void {
  if (!span.isRecording()) {
    span.end();
    return;
  }
  span.setAttribute("falgate.decision", end.decision);
  span.setAttribute("http.response.status_code", end.status);
  span.setAttribute("http.request.body.size", end.bytesIn);
  span.setAttribute("http.response.body.size", end.bytesOut);
  span.setAttribute("falgate.own_ms", end.falgateMs);
  span.setAttribute("falgate.upstream_ms", end.upstreamMs);
  if (end.requestId !== null) span.setAttribute("fal.request_id", end.requestId);
  if (end.billableUnits !== null) span.setAttribute("fal.billable_units", end.billableUnits);
  if (call.route === "token" || call.action === "token") {
    span.setAttribute("falgate.token.kind", end.decision === "answered" ? "falgate" : "fal");
  }
  const failure = end.code ?? end.error;
  if (end.code !== null) span.setAttribute("falgate.code", end.code);
  if (end.error !== null) span.setAttribute("falgate.error", end.error);
  if (failure !== null) span.setAttribute("error.type", failure);
  // A refusal is falgate doing its job (4xx); a 5xx or a forwarded call that failed or was cut short is an error.
  if (end.status >= 500 || (end.decision === "forwarded" && failure !== null)) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: failure ?? String(end.status) });
  }
  span.end(call.startedAt + end.totalMs);
}

function tunnelAttributes(tunnel: TunnelRecord): Attributes {
  const attributes: Attributes = {
    "falgate.route": "tunnel",
    "falgate.principal": tunnel.principal,
    "falgate.endpoint": tunnel.app,
  };
  if (tunnel.appId !== null) attributes["falgate.app"] = tunnel.appId;
  return attributes;
}

function endTunnel(span: Span, tunnel: TunnelRecord, end: RelayEndInfo): void {
  if (!span.isRecording()) {
    span.end();
    return;
  }
  span.setAttribute("falgate.tunnel.reason", end.reason);
  span.setAttribute("falgate.tunnel.close_code", end.code);
  span.setAttribute("falgate.tunnel.messages_in", end.messagesIn);
  span.setAttribute("falgate.tunnel.messages_out", end.messagesOut);
  span.setAttribute("falgate.tunnel.bytes_in", end.bytesIn);
  span.setAttribute("falgate.tunnel.bytes_out", end.bytesOut);
  if (end.reason === "upstream-failed" || end.reason === "queue-overflow") {
    span.setAttribute("error.type", end.reason);
    span.setStatus({ code: SpanStatusCode.ERROR, message: end.reason });
  }
  span.end(tunnel.startedAt + end.durationMs);
}
