import { DEFAULTS } from "../options/defaults.js";
import type { Principal } from "../types.js";
import type { RelayEndInfo } from "./relay.js";

/** Who a tunnel is for; given to the tunnel hooks. */
export interface TunnelInfo {
  principal: Principal;
  /** `owner/app[/path]` as opened. */
  app: string;
}

/** Options of the realtime WebSocket tunnel (mounted below the top-level `path`). Times are in milliseconds; `0` disables a timer. */
export interface TunnelOptions {
  /** Largest message in either direction, in bytes; bigger ones close the tunnel with 1009. @default 16_777_216 (16 MiB) */
  maxPayload?: number;
  /** Client messages held while fal's side is still connecting. @default 64 */
  maxQueuedMessages?: number;
  /** Bytes of client messages held while fal's side is still connecting. @default 8_388_608 (8 MiB) */
  maxQueuedBytes?: number;
  /** Close a tunnel after this long without a message either way (code 1000). @default 300_000 */
  idleTimeout?: number;
  /** Close a tunnel after this long whatever happens (code 1000; the official client reconnects on its next send). @default 3_600_000 */
  maxSessionDuration?: number;
  /** Ping both peers this often; one that has not answered the previous ping is terminated. @default 30_000 */
  pingInterval?: number;
  /** Time allowed for the upgrade to fal to complete. @default 10_000 */
  connectTimeout?: number;
  /** Bytes buffered toward one peer above which falgate stops reading from the other (Node binding). @default 1_048_576 */
  highWaterMark?: number;
  /** Open tunnels per principal (the token's `sub`), counted in the instance's `store`; `0` for no cap. @default 5 */
  maxPerPrincipal?: number;
  /** Called when both sides are open. Errors thrown here are logged. */
  onOpen?: (info: TunnelInfo) => void;
  /** Called once per accepted tunnel when it is over, with its counters. Errors thrown here are logged. */
  onEnd?: (info: TunnelInfo & RelayEndInfo) => void;
}

/** Tunnel options after validation. */
export interface TunnelLimits {
  /** The mount path (the top-level `path`, without a trailing slash). */
  path: string;
  maxPayload: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  idleTimeout: number;
  maxSessionDuration: number;
  pingInterval: number;
  connectTimeout: number;
  highWaterMark: number;
  maxPerPrincipal: number;
  onOpen: ((info: TunnelInfo) => void) | undefined;
  onEnd: ((info: TunnelInfo & RelayEndInfo) => void) | undefined;
}

function fail(option: string, message: string): never {
  throw new TypeError(`falgate: option \`tunnel.${option}\` ${message}`);
}

function count(option: keyof typeof DEFAULTS.tunnel, value: number | undefined, min = 0): number {
  if (value === undefined) return DEFAULTS.tunnel[option];
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > 2 ** 31) {
    fail(option, `must be an integer between ${min} and 2^31, got ${String(value)}`);
  }
  return value;
}

/** Validates tunnel options once; a bad option throws a `TypeError` naming it. */
export function resolveTunnelOptions(
  options: TunnelOptions = {},
  path: string = DEFAULTS.path,
): TunnelLimits {
  if (options === null || typeof options !== "object") fail("", "must be an object");
  return {
    path: path.replace(/\/+$/, ""),
    maxPayload: count("maxPayload", options.maxPayload, 1),
    maxQueuedMessages: count("maxQueuedMessages", options.maxQueuedMessages),
    maxQueuedBytes: count("maxQueuedBytes", options.maxQueuedBytes),
    idleTimeout: count("idleTimeout", options.idleTimeout),
    maxSessionDuration: count("maxSessionDuration", options.maxSessionDuration),
    pingInterval: count("pingInterval", options.pingInterval),
    connectTimeout: count("connectTimeout", options.connectTimeout, 1),
    highWaterMark: count("highWaterMark", options.highWaterMark, 1),
    maxPerPrincipal: count("maxPerPrincipal", options.maxPerPrincipal),
    onOpen: hook("onOpen", options.onOpen),
    onEnd: hook("onEnd", options.onEnd),
  };
}

function hook<T>(option: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== "function") fail(option, "must be a function");
  return value;
}
