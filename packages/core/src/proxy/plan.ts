import { FalgateError, type FalgateErrorCode } from "../errors.js";
import type { CallRecord } from "../events/types.js";
import type { Admission, Limiter } from "../limits/limiter.js";
import { redact } from "../logger.js";
import type { Settings } from "../options/resolve.js";
import type { FalgateEnv, HookContext, Principal } from "../types.js";
import { corsHeaders } from "./cors.js";
import { PROXIED_ANSWER_HEADERS } from "./headers.js";
import { bodyTooLarge } from "./input.js";
import { errorReply, type Reply } from "./reply.js";

/** How a forwarded call ended, as the binding that executed it saw it. */
export interface ForwardOutcome {
  /** The status the client got (fal's, or falgate's 413/502/504 when the call failed before fal answered). */
  status: number;
  /** The code falgate answered with instead of fal's answer, or `null` when fal's answer was relayed. */
  code: FalgateErrorCode | null;
  /** Set when the answer was cut short: `client_closed`, or the code of the upstream failure. */
  error: string | null;
  /** Request body bytes sent upstream. */
  bytesIn: number;
  /** Response body bytes sent to the client. */
  bytesOut: number;
  /** fal's answer header by lower-case name (`null` when fal never answered). */
  header: (name: string) => string | null;
  /** From sending to fal until its headers arrived, ms (`0` when it never answered). */
  upstreamMs: number;
  /** The first {@link ForwardPlan.capture} bytes of fal's answer body, when the plan asked for them. */
  body?: Uint8Array | null;
}

/** What went wrong while forwarding, as far as the binding knows. */
export interface FailureState {
  /** falgate's own headers timer fired (bindings whose transport has none of its own). */
  timedOut?: boolean;
  /** The client went away first. */
  clientGone?: boolean;
  /** The request body passed `maxBodySize`. */
  tooLarge?: boolean;
}

/**
 * A call the core decided to forward: everything a binding needs to execute it natively (undici on Node, `fetch`
 * elsewhere) and to report how it ended. The plan holds the key only inside `headers`.
 */
export interface ForwardPlan {
  /** The call as the events see it. */
  readonly record: CallRecord;
  /** The validated target the client asked for (never the upstream override). */
  readonly target: URL;
  /** Where to send it: origin (`https://fal.run`, or the override's) and path with query. */
  readonly origin: string;
  readonly path: string;
  readonly method: string;
  /**
   * Request headers for fal as `[name, value, ...]`: the allowlisted client headers, `authorization: Key …` and the
   * override's `x-falgate-upstream-host`. No `accept-encoding`: a binding that relays bytes unchanged passes
   * {@link ForwardPlan.acceptEncoding}; one that decodes asks for what it decodes.
   */
  readonly headers: readonly string[];
  /** The client's `accept-encoding`. */
  readonly acceptEncoding: string | null;
  /** A replacement body (a policed token request), or `null` to relay the client's body when {@link relayBody}. */
  readonly body: string | null;
  /** True when the client's body goes upstream (never for GET/HEAD or with a replacement body). */
  readonly relayBody: boolean;
  /** Largest relayed body in bytes (`0`: no cap). A declared `content-length` was already checked. */
  readonly maxBodySize: number;
  /** Connect, headers and idle (between two chunks of the answer) timeouts, ms; `0` disables one. */
  readonly timeouts: { readonly connect: number; readonly headers: number; readonly idle: number };
  /**
   * Headers falgate adds to fal's answer, as `[name, value]` pairs: {@link PROXIED_ANSWER_HEADERS}, CORS, what the
   * limits leave. Each replaces a header of fal's of the same name, except `vary`, which is added.
   */
  readonly responseHeaders: ReadonlyArray<readonly [string, string]>;
  /**
   * How many bytes of fal's answer body to hand to `settle` (`0`: none). The limits read a queue submit's
   * `request_id` and a cancel's `status` from them; the answer itself streams on untouched.
   */
  readonly capture: number;
  /** Maps a transport failure to the error to answer (and logs it, without secrets). */
  failure(error: unknown, state?: FailureState): FalgateError;
  /** The reply for an error, with this call's CORS headers. */
  errorReply(error: unknown): Reply;
  /** Logs a failure of the answer's body (after headers were sent), without secrets. */
  warnTruncated(error: unknown): void;
  /** Reports the end of the call; only the first call counts. */
  settle(outcome: ForwardOutcome): void;
}

/** What the pipeline hands over to {@link createPlan}. */
export interface PlanInput<C extends object> {
  settings: Settings<C>;
  record: CallRecord;
  target: URL;
  method: string;
  headers: string[];
  acceptEncoding: string | null;
  body: string | null;
  relayBody: boolean;
  key: string;
  corsOrigin: string | null;
  principal: Principal;
  endpointId: string | null;
  ctx: HookContext<C>;
  env: FalgateEnv;
  waitUntil: ((promise: Promise<unknown>) => void) | undefined;
  /** `performance.now()` when the decision started. */
  startedAt: number;
  /** The call's admission by the limits, settled with the call; `null` when nothing is limited. */
  limits: { limiter: Limiter; admission: Admission } | null;
  /** Bytes of the answer body the limits need (see {@link ForwardPlan.capture}). */
  capture: number;
}

// Errors raised while connecting: the request surely did not reach fal, so a retry is safe.
const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT",
]);
const CONNECT_TIMEOUTS = new Set(["UND_ERR_CONNECT_TIMEOUT", "ETIMEDOUT"]);

/** Builds the plan of one forwarded call: the key goes in, the upstream override is applied. */
export function createPlan<C extends object>(p: PlanInput<C>): ForwardPlan {
  const { settings, record, target, key } = p;
  const headers = p.headers;
  headers.push("authorization", `Key ${key}`);
  let origin = target.origin;
  let path = target.pathname + target.search;
  if (settings.upstream) {
    const mapped = settings.upstream(target);
    origin = mapped.origin;
    path = mapped.path;
    if (mapped.host) headers.push("x-falgate-upstream-host", mapped.host);
  }
  const cors: Array<[string, string]> = corsHeaders(p.corsOrigin, settings);
  // The common case (same origin, nothing limited) shares one frozen list.
  const responseHeaders =
    cors.length === 0 && !p.limits
      ? PROXIED_ANSWER_HEADERS
      : [...PROXIED_ANSWER_HEADERS, ...cors, ...(p.limits ? Object.entries(p.limits.admission.headers) : [])];
  const falgateMs = performance.now() - p.startedAt;
  let settled = false;

  return {
    record,
    target,
    origin,
    path,
    method: p.method,
    headers,
    acceptEncoding: p.acceptEncoding,
    body: p.body,
    relayBody: p.relayBody,
    maxBodySize: settings.maxBodySize,
    timeouts: settings.timeouts,
    responseHeaders,
    capture: p.capture,

    failure(error, state = {}) {
      if (state.tooLarge) return bodyTooLarge(settings.maxBodySize);
      if (error instanceof FalgateError) return error;
      if (state.timedOut) return new FalgateError("upstream_timeout", "fal did not answer in time.");
      if (state.clientGone) return new FalgateError("upstream_error", "The client closed the request.");
      const code = errorCode(error);
      settings.logger.warn("upstream request failed", {
        code: code ?? "unknown",
        detail: redact(describe(error), key),
      });
      if (code === "UND_ERR_HEADERS_TIMEOUT")
        return new FalgateError("upstream_timeout", "fal did not answer in time.");
      if (code && CONNECT_TIMEOUTS.has(code)) {
        return new FalgateError("upstream_timeout", "Could not connect to fal in time.", { cause: code });
      }
      if (code && CONNECT_ERRORS.has(code)) {
        return new FalgateError("upstream_unreachable", "Could not reach fal; the request was not sent.", {
          cause: code,
        });
      }
      return new FalgateError("upstream_error", "The connection to fal failed.", { cause: code });
    },

    errorReply(error) {
      return errorReply(error, cors);
    },

    warnTruncated(error) {
      settings.logger.warn("upstream body ended with an error", {
        code: truncationCode(error),
        target: target.origin + target.pathname,
        detail: redact(describe(error), key),
      });
    },

    settle(outcome) {
      if (settled) return;
      settled = true;
      const totalMs = performance.now() - p.startedAt;
      const requestId = outcome.header("x-fal-request-id");
      if (p.limits) {
        const body = outcome.body ? new TextDecoder().decode(outcome.body) : null;
        // fal's status only when fal answered: a 502/504 of falgate's own is "no answer" to the limits.
        const status = outcome.code === null ? outcome.status : 0;
        // Started here, before the caller writes the answer's last byte (see the bindings); `waitUntil` only keeps
        // the runtime alive for it.
        const done = p.limits.limiter.settle(p.limits.admission.reservation, {
          status,
          header: outcome.header,
          body,
        });
        p.waitUntil?.(done);
      }
      if (settings.events.active) {
        const units = Number(outcome.header("x-fal-billable-units") ?? Number.NaN);
        settings.events.emit({
          type: "call.end",
          call: record,
          end: {
            decision: "forwarded",
            code: outcome.code,
            status: outcome.status,
            bytesIn: outcome.bytesIn,
            bytesOut: outcome.bytesOut,
            requestId,
            billableUnits: Number.isFinite(units) ? units : null,
            error: outcome.error,
            totalMs,
            falgateMs,
            upstreamMs: outcome.upstreamMs,
          },
        });
      }
      const onResponse = settings.onResponse;
      if (onResponse) {
        const done = Promise.resolve()
          .then(() =>
            onResponse({
              principal: p.principal,
              method: p.method,
              target,
              endpointId: p.endpointId,
              ctx: p.ctx,
              status: outcome.status,
              durationMs: totalMs,
              bytesIn: outcome.bytesIn,
              bytesOut: outcome.bytesOut,
              requestId,
              ...(outcome.error === null ? {} : { error: outcome.error }),
            }),
          )
          .catch((hookError: unknown) =>
            settings.logger.error("onResponse hook failed", {
              error: hookError instanceof Error ? hookError.message : String(hookError),
            }),
          );
        p.waitUntil?.(done);
      }
    },
  };
}

/** The code reported for an answer body that failed after its headers were sent. */
export function truncationCode(error: unknown): string {
  if (error instanceof FalgateError) return error.code;
  const code = errorCode(error);
  return code === "UND_ERR_BODY_TIMEOUT" ? "upstream_timeout" : "upstream_error";
}

/**
 * Finds a system/undici error code on an error or its cause chain. Deno's fetch gives no code: its refused
 * connections say `client error (Connect)` in a cause's message, which means the same as `ECONNREFUSED` here.
 */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    const message = (current as { message?: unknown }).message;
    if (typeof message === "string" && message.includes("client error (Connect)")) return "ECONNREFUSED";
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
