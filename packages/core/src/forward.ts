import type { ResolvedConfig } from "./config.js";
import { FalgateError } from "./errors.js";
import { downstreamResponseHeaders, upstreamRequestHeaders } from "./headers.js";
import { redact } from "./logger.js";
import { type BodyEnd, type BodyMeter, capBody, relayBody, tooLarge } from "./streams.js";

/** What the forwarder needs to know about one validated call. */
export interface ForwardCall {
  request: Request;
  target: URL;
  key: string;
  /** Replacement request body (e.g. a policed token request); `undefined` streams the original one. */
  body?: Uint8Array<ArrayBuffer> | string;
  /** Called once when the answer is complete (or failed) with status and byte counts. */
  onEnd?: (result: {
    status: number;
    bytesIn: number;
    bytesOut: number;
    requestId: string | null;
    error?: string;
  }) => void;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

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

type RequestInitWithDuplex = RequestInit & { duplex?: "half" };

/** Forwards one validated call to fal (or the upstream override) and streams the answer back. */
export async function forward(call: ForwardCall, config: ResolvedConfig): Promise<Response> {
  const { request, target, key } = call;
  const method = request.method;
  const hasBody = method !== "GET" && method !== "HEAD" && (call.body !== undefined || request.body !== null);

  const declared = request.headers.get("content-length");
  if (hasBody && call.body === undefined && declared !== null && config.maxBodySize > 0) {
    const length = Number(declared);
    if (Number.isFinite(length) && length > config.maxBodySize) throw tooLarge(config.maxBodySize);
  }

  const headers = upstreamRequestHeaders(request.headers, config.forwardHeaders, hasBody);
  headers.set("authorization", `Key ${key}`);
  let url = target.href;
  if (config.upstream) {
    const mapped = config.upstream(target);
    url = mapped.url;
    if (mapped.host) headers.set("x-falgate-upstream-host", mapped.host);
  }

  const meter: BodyMeter = { bytes: 0, tooLarge: false };
  let body: BodyInit | null = null;
  if (hasBody) {
    if (call.body !== undefined) {
      body = call.body;
      meter.bytes =
        typeof call.body === "string" ? new TextEncoder().encode(call.body).byteLength : call.body.byteLength;
      headers.delete("content-length");
    } else if (request.body) {
      body = capBody(request.body, config.maxBodySize, meter);
    }
  }

  // One controller for the whole exchange: client abort, headers timeout and idle timeout all end up here.
  const controller = new AbortController();
  let timedOut = false;
  const onClientAbort = () => controller.abort(request.signal.reason);
  if (request.signal.aborted) controller.abort(request.signal.reason);
  else request.signal.addEventListener("abort", onClientAbort, { once: true });
  const headersTimer =
    config.headersTimeout > 0
      ? setTimeout(() => {
          timedOut = true;
          controller.abort(new FalgateError("upstream_timeout", "fal did not answer in time."));
        }, config.headersTimeout)
      : undefined;
  const release = () => {
    if (headersTimer !== undefined) clearTimeout(headersTimer);
    request.signal.removeEventListener("abort", onClientAbort);
  };

  const init: RequestInitWithDuplex = {
    method,
    headers,
    body,
    signal: controller.signal,
    redirect: "manual",
  };
  if (body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) init.duplex = "half";

  let upstream: Response;
  try {
    upstream = await config.fetch(url, init);
  } catch (error) {
    release();
    const failure = mapFetchError(
      error,
      { timedOut, meter, maxBodySize: config.maxBodySize, clientGone: request.signal.aborted },
      config,
      key,
    );
    call.onEnd?.({
      status: failure.status,
      bytesIn: meter.bytes,
      bytesOut: 0,
      requestId: null,
      error: request.signal.aborted && !timedOut ? "client_closed" : failure.code,
    });
    throw failure;
  } finally {
    if (headersTimer !== undefined) clearTimeout(headersTimer);
  }

  const responseHeaders = downstreamResponseHeaders(upstream.headers);
  const requestId = upstream.headers.get("x-fal-request-id");
  const status = upstream.status;
  const report = (bytesOut: number, error?: string) =>
    call.onEnd?.({ status, bytesIn: meter.bytes, bytesOut, requestId, ...(error ? { error } : {}) });

  if (upstream.body === null || method === "HEAD" || NULL_BODY_STATUS.has(status)) {
    if (upstream.body) upstream.body.cancel().catch(() => undefined);
    release();
    report(0);
    return new Response(null, { status, statusText: upstream.statusText, headers: responseHeaders });
  }

  const relayed = relayBody(upstream.body, {
    idleTimeout: config.idleTimeout,
    onIdle: () => controller.abort(new FalgateError("upstream_timeout", "fal stopped sending data.")),
    onEnd: (end: BodyEnd, bytesOut: number) => {
      release();
      if (end.kind === "done") return report(bytesOut);
      if (end.kind === "cancelled") return report(bytesOut, "client_closed");
      const reason = controller.signal.aborted ? controller.signal.reason : end.error;
      // The client going away aborts upstream first on some runtimes: that is a client close, not fal's fault.
      if (!(reason instanceof FalgateError) && request.signal.aborted)
        return report(bytesOut, "client_closed");
      const code = reason instanceof FalgateError ? reason.code : "upstream_error";
      config.logger.warn("upstream body ended with an error", {
        code,
        target: target.origin + target.pathname,
        detail: redact(describe(end.error), key),
      });
      report(bytesOut, code);
    },
  });
  return new Response(relayed, { status, statusText: upstream.statusText, headers: responseHeaders });
}

function mapFetchError(
  error: unknown,
  state: { timedOut: boolean; meter: BodyMeter; maxBodySize: number; clientGone: boolean },
  config: ResolvedConfig,
  key: string,
): FalgateError {
  if (state.meter.tooLarge) return tooLarge(state.maxBodySize);
  if (error instanceof FalgateError) return error;
  if (state.timedOut) return new FalgateError("upstream_timeout", "fal did not answer in time.");
  if (state.clientGone) return new FalgateError("upstream_error", "The client closed the request.");
  const code = errorCode(error);
  config.logger.warn("upstream request failed", {
    code: code ?? "unknown",
    detail: redact(describe(error), key),
  });
  if (code && CONNECT_TIMEOUTS.has(code)) {
    return new FalgateError("upstream_timeout", "Could not connect to fal in time.", { cause: code });
  }
  if (code && CONNECT_ERRORS.has(code)) {
    return new FalgateError("upstream_unreachable", "Could not reach fal; the request was not sent.", {
      cause: code,
    });
  }
  return new FalgateError("upstream_error", "The connection to fal failed.", { cause: code });
}

/** Finds a system/undici error code on an error or its cause chain. */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
