import type { Principal } from "../types.js";
import { createMemoryTunnelCounter, type TunnelCounter } from "./counter.js";
import type { RelayEndInfo } from "./relay.js";

/** Who a tunnel is for; given to the tunnel hooks. */
export interface TunnelInfo {
  principal: Principal;
  /** `owner/app[/path]` as opened. */
  app: string;
}

/** Options of the realtime WebSocket tunnel. Times are in milliseconds; `0` disables a timer. */
export interface TunnelOptions {
  /** Mount path: `wss://host{path}/{owner}/{app}/realtime` opens `wss://fal.run/{owner}/{app}/realtime`. @default "/api/fal/proxy" */
  path?: string;
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
  /** Open tunnels per principal (the token's `sub`); `0` for no cap. @default 5 */
  maxPerPrincipal?: number;
  /** Counts open tunnels for `maxPerPrincipal`. @default an in-memory counter (per instance) */
  counter?: TunnelCounter;
  /** Called when both sides are open. Errors thrown here are logged. */
  onOpen?: (info: TunnelInfo) => void;
  /** Called once per accepted tunnel when it is over, with its counters. Errors thrown here are logged. */
  onEnd?: (info: TunnelInfo & RelayEndInfo) => void;
}

/** Tunnel options after validation. */
export interface TunnelLimits {
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
  counter: TunnelCounter;
  onOpen: ((info: TunnelInfo) => void) | undefined;
  onEnd: ((info: TunnelInfo & RelayEndInfo) => void) | undefined;
}

/** The default mount path, shared with the HTTP proxy route. */
export const DEFAULT_TUNNEL_PATH = "/api/fal/proxy";

function fail(option: string, message: string): never {
  throw new TypeError(`falgate: option \`tunnel.${option}\` ${message}`);
}

function count(option: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > 2 ** 31) {
    fail(option, `must be an integer between ${min} and 2^31, got ${String(value)}`);
  }
  return value;
}

/** Validates tunnel options once; a bad option throws a `TypeError` naming it. */
export function resolveTunnelOptions(options: TunnelOptions = {}): TunnelLimits {
  if (options === null || typeof options !== "object") fail("", "must be an object");
  const path = options.path ?? DEFAULT_TUNNEL_PATH;
  if (typeof path !== "string" || !/^(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*\/?$/.test(path)) {
    fail("path", `must be an absolute path like "/api/fal/proxy", got ${JSON.stringify(path)}`);
  }
  if (
    options.counter !== undefined &&
    (typeof options.counter?.acquire !== "function" || typeof options.counter.release !== "function")
  ) {
    fail("counter", "must have `acquire` and `release` methods");
  }
  return {
    path: path.replace(/\/+$/, ""),
    maxPayload: count("maxPayload", options.maxPayload, 16 * 1024 * 1024, 1),
    maxQueuedMessages: count("maxQueuedMessages", options.maxQueuedMessages, 64),
    maxQueuedBytes: count("maxQueuedBytes", options.maxQueuedBytes, 8 * 1024 * 1024),
    idleTimeout: count("idleTimeout", options.idleTimeout, 300_000),
    maxSessionDuration: count("maxSessionDuration", options.maxSessionDuration, 3_600_000),
    pingInterval: count("pingInterval", options.pingInterval, 30_000),
    connectTimeout: count("connectTimeout", options.connectTimeout, 10_000, 1),
    highWaterMark: count("highWaterMark", options.highWaterMark, 1024 * 1024, 1),
    maxPerPrincipal: count("maxPerPrincipal", options.maxPerPrincipal, 5),
    counter: options.counter ?? createMemoryTunnelCounter(),
    onOpen: hook("onOpen", options.onOpen),
    onEnd: hook("onEnd", options.onEnd),
  };
}

function hook<T>(option: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== "function") fail(option, "must be a function");
  return value;
}
