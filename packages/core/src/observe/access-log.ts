import type { CallEnd, CallRecord, FalgateObserver, TunnelRecord } from "../events/types.js";
import type { RelayEndInfo } from "../tunnel/relay.js";
import type { Logger } from "../types.js";

/** The message of an access-log line for an HTTP call (its fields are a {@link CallLogEntry}). */
export const CALL_MESSAGE = "call";
/** The message of an access-log line for a tunnel session (its fields are a {@link TunnelLogEntry}). */
export const TUNNEL_MESSAGE = "tunnel";

/**
 * The fields of one call's access-log line. Built only from the event, which holds no secret: no key, no token,
 * no cookie, no `Authorization` value, no query string, no body.
 */
export interface CallLogEntry {
  route: CallRecord["route"];
  decision: CallEnd["decision"];
  /** The refusal's code, or the failure code of a forwarded call; `null` when all went well. */
  code: CallEnd["code"];
  status: number;
  method: string;
  principal: string | null;
  /** `owner/app`. */
  app: string | null;
  /** `owner/app[/path]` as called. */
  endpoint: string | null;
  action: CallRecord["action"];
  /** Whole call, ms. */
  ms: number;
  /** falgate's own time, ms. */
  falgateMs: number;
  /** fal's time to headers, ms. */
  upstreamMs: number;
  bytesIn: number;
  bytesOut: number;
  /** fal's request id. */
  requestId: string | null;
  billableUnits: number | null;
  /** Set when the answer was cut short (`client_closed`, an upstream failure code). */
  error: string | null;
}

/** The fields of one tunnel session's access-log line. */
export interface TunnelLogEntry {
  principal: string;
  app: string | null;
  /** `owner/app[/path]` as opened. */
  endpoint: string;
  reason: RelayEndInfo["reason"];
  /** The close code the client got (or closed with). */
  closeCode: number;
  ms: number;
  /** Messages from the browser to fal. */
  messagesIn: number;
  /** Messages from fal to the browser. */
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}

/**
 * An observer that logs one line per HTTP call and one per tunnel session through `logger.info` (`logger.warn` when
 * falgate answered 5xx or the answer was cut short): message {@link CALL_MESSAGE} with a {@link CallLogEntry}, or
 * {@link TUNNEL_MESSAGE} with a {@link TunnelLogEntry}. The fields hold no secret.
 * @example
 * const falgate = createFalgate({ observers: [createAccessLog(createLineLogger({ write: (l) => process.stdout.write(l) }))] });
 */
export function createAccessLog(logger: Logger): FalgateObserver {
  if (logger === null || typeof logger !== "object" || typeof logger.info !== "function") {
    throw new TypeError("falgate: createAccessLog needs a logger with an `info` method");
  }
  const info = logger.info.bind(logger);
  const warn = logger.warn.bind(logger);
  return (event) => {
    if (event.type === "call.end") {
      const entry = callEntry(event.call, event.end);
      (entry.status >= 500 || entry.error !== null ? warn : info)(CALL_MESSAGE, fields(entry));
    } else if (event.type === "tunnel.end") {
      const entry = tunnelEntry(event.tunnel, event.end);
      (entry.reason === "upstream-failed" ? warn : info)(TUNNEL_MESSAGE, fields(entry));
    }
  };
}

/** The access-log fields of a finished call. */
export function callEntry(call: CallRecord, end: CallEnd): CallLogEntry {
  return {
    route: call.route,
    decision: end.decision,
    code: end.code,
    status: end.status,
    method: call.method,
    principal: call.principal,
    app: call.appId,
    endpoint: call.endpointId,
    action: call.action,
    ms: round(end.totalMs),
    falgateMs: round(end.falgateMs),
    upstreamMs: round(end.upstreamMs),
    bytesIn: end.bytesIn,
    bytesOut: end.bytesOut,
    requestId: end.requestId,
    billableUnits: end.billableUnits,
    error: end.error,
  };
}

/** The access-log fields of a finished tunnel session. */
export function tunnelEntry(tunnel: TunnelRecord, end: RelayEndInfo): TunnelLogEntry {
  return {
    principal: tunnel.principal,
    app: tunnel.appId,
    endpoint: tunnel.app,
    reason: end.reason,
    closeCode: end.code,
    ms: round(end.durationMs),
    messagesIn: end.messagesIn,
    messagesOut: end.messagesOut,
    bytesIn: end.bytesIn,
    bytesOut: end.bytesOut,
  };
}

// The entries are fresh plain objects: handed to the logger as they are, no copy.
function fields(entry: CallLogEntry | TunnelLogEntry): Record<string, unknown> {
  return entry as unknown as Record<string, unknown>;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

// Pretty (terminal) rendering of the two entries, used by createLineLogger. Columns: method, status, what happened,
// endpoint, principal, duration, bytes.

/** One human-readable line (without time and level) for a call entry. */
export function prettyCall(f: Partial<CallLogEntry>): string {
  const what = describeCall(f);
  const bytes = `in ${size(f.bytesIn)}  out ${size(f.bytesOut)}`;
  const request = f.requestId ? `  req ${f.requestId}` : "";
  return `${pad(f.method ?? "-", 7)}${String(f.status ?? "-").padStart(4)}  ${pad(what, 30)} ${pad(
    f.endpoint ?? f.action ?? "-",
    32,
  )} ${pad(f.principal ?? "-", 16)} ${duration(f.ms).padStart(7)}  ${bytes}${request}`;
}

/** One human-readable line (without time and level) for a tunnel entry. */
export function prettyTunnel(f: Partial<TunnelLogEntry>): string {
  const what = `tunnel ${f.reason ?? ""}`;
  return `${pad("WS", 7)}${String(f.closeCode ?? "-").padStart(4)}  ${pad(what, 30)} ${pad(
    f.endpoint ?? "-",
    32,
  )} ${pad(f.principal ?? "-", 16)} ${duration(f.ms).padStart(7)}  in ${size(f.bytesIn)} (${
    f.messagesIn ?? 0
  } msg)  out ${size(f.bytesOut)} (${f.messagesOut ?? 0} msg)`;
}

function describeCall(f: Partial<CallLogEntry>): string {
  if (f.decision === "refused") return `refused ${f.code ?? ""}`;
  if (f.decision === "answered") return f.route === "token" ? "token falgate" : (f.route ?? "answered");
  const base = f.route === "token" ? "token fal" : "forwarded";
  const failure = f.code ?? f.error;
  return failure ? `${base} ${failure}` : base;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text.padEnd(width);
}

function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 100_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms / 1000)}s`;
}

function size(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return "-";
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)}kB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)}MB`;
  return `${(bytes / 1024 ** 3).toFixed(1)}GB`;
}
