import type { FalgateErrorCode } from "../errors.js";
import type { FalTarget } from "../policy/classify.js";
import type { RelayEndInfo } from "../tunnel/relay.js";

/**
 * One HTTP call through falgate, built once when the call is decided and handed to every event of that call,
 * so a subscriber may key its own state (a span, a timer) on the object. Holds no secret: no key, no token, no
 * cookie, no `Authorization` value.
 */
export interface CallRecord {
  /** What the call was: a proxied fal call, the token route, the usage route, a CORS preflight. */
  route: "proxy" | "token" | "usage" | "preflight";
  readonly method: string;
  /** The principal id once `authorize` (or the same-origin default) established it. */
  principal: string | null;
  /** `owner/app` (bounded: a good metric label), or `null` for non-app targets and refusals before policy. */
  appId: string | null;
  /** `owner/app[/path]` as called, or `null`. */
  endpointId: string | null;
  /** What the target does (`run`, `submit`, `status`, `stream`, `token`, ...), or `null`. */
  action: FalTarget["action"];
  /** Wall clock at the start of the decision, ms since the epoch. */
  readonly startedAt: number;
}

/** How a call ended, reported once per call. */
export interface CallEnd {
  /** `forwarded` to fal, `refused` by falgate (with `code`), or `answered` by falgate itself (token route, preflight). */
  decision: "forwarded" | "refused" | "answered";
  /** The refusal's code, or the failure code of a forwarded call (`upstream_timeout`, ...); `null` when all went well. */
  code: FalgateErrorCode | null;
  /** The HTTP status sent to the client. */
  status: number;
  /** Request body bytes sent upstream. */
  bytesIn: number;
  /** Response body bytes sent to the client. */
  bytesOut: number;
  /** fal's request id (`x-fal-request-id`), when fal gave one. */
  requestId: string | null;
  /** fal's `x-fal-billable-units`, when fal reported them. */
  billableUnits: number | null;
  /** Set when the answer was cut short: `client_closed`, or the code of the upstream failure. */
  error: string | null;
  /** Whole call, decision to last byte, ms. */
  totalMs: number;
  /** falgate's own time before the call was sent (authorize, policy, limits, key), ms. */
  falgateMs: number;
  /** From sending to fal until fal answered with headers, ms (`0` when nothing was sent). */
  upstreamMs: number;
}

/** One realtime tunnel session. */
export interface TunnelRecord {
  readonly principal: string;
  /** `owner/app[/path]` as opened. */
  readonly app: string;
  /** `owner/app` of {@link app} (bounded: a good metric label), or `null` if it has none. */
  readonly appId: string | null;
  /** Wall clock when the tunnel was accepted, ms since the epoch. */
  readonly startedAt: number;
}

/** Everything falgate reports; `type` tells which. */
export type FalgateEvent =
  /** A call is about to be sent to fal (forwarded calls only; pairs with its `call.end`). */
  | { type: "call.start"; call: CallRecord }
  /** A call is over: refused, answered, or forwarded and its answer complete (or failed). */
  | { type: "call.end"; call: CallRecord; end: CallEnd }
  /** A tunnel was accepted and both sides are open. */
  | { type: "tunnel.open"; tunnel: TunnelRecord }
  /** A tunnel is over, with its frame and byte counters. */
  | { type: "tunnel.end"; tunnel: TunnelRecord; end: RelayEndInfo }
  /** A tunnel upgrade was refused (before the upgrade, or in-band after it), with falgate's code. */
  | { type: "tunnel.refused"; code: FalgateErrorCode; appId: string | null }
  /** The limits recorded spend against a principal's budget: fal's billable units × the endpoint's price. */
  | { type: "spend"; principal: string; appId: string | null; amount: number };

/**
 * A subscriber to falgate's events (metrics, tracing, access logs, the app's own metering). Called synchronously
 * on the request path: keep it cheap and never throw (a throw is logged and ignored).
 */
export type FalgateObserver = (event: FalgateEvent) => void;
