import { FalgateError } from "../errors.js";
import type { FetchLike } from "../types.js";
import {
  connectionTokens,
  DECODED_ACCEPT_ENCODING,
  isDecodedEncoding,
  relaysResponseHeader,
} from "./headers.js";
import type { ForwardOutcome, ForwardPlan } from "./plan.js";
import { toResponse } from "./reply.js";
import { type BodyMeter, capBody, relayBody } from "./streams.js";

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const NO_HEADER = (): null => null;

type RequestInitWithDuplex = RequestInit & { duplex?: "half" };

/**
 * Executes a plan with `fetch` (Workers, Next Edge, Hono, `falgate.fetch`): streams the client's body up and fal's
 * answer back without buffering, with the body cap, the headers and idle timeouts and client aborts, and reports
 * the end of the call to `plan.settle`. Never rejects: a failure before fal answered becomes falgate's error reply.
 */
export async function forwardWithFetch(
  plan: ForwardPlan,
  request: Request,
  fetch: FetchLike,
): Promise<Response> {
  const headers = new Headers();
  const h = plan.headers;
  for (let i = 0; i + 1 < h.length; i += 2) headers.append(h[i]!, h[i + 1]!);
  // fetch decodes what it asks for: ask only for codings every fetch decodes (see isDecodedEncoding).
  headers.set("accept-encoding", DECODED_ACCEPT_ENCODING);

  const meter: BodyMeter = { bytes: 0, tooLarge: false };
  let body: BodyInit | null = null;
  if (plan.body !== null) {
    body = plan.body;
    meter.bytes = new TextEncoder().encode(plan.body).byteLength;
  } else if (plan.relayBody && request.body) {
    body = capBody(request.body, plan.maxBodySize, meter);
  }

  // One controller for the whole exchange: client abort, headers timeout and idle timeout all end up here.
  const controller = new AbortController();
  let timedOut = false;
  const onClientAbort = () => controller.abort(request.signal.reason);
  if (request.signal.aborted) controller.abort(request.signal.reason);
  else request.signal.addEventListener("abort", onClientAbort, { once: true });
  const headersTimer =
    plan.timeouts.headers > 0
      ? setTimeout(() => {
          timedOut = true;
          controller.abort(new FalgateError("upstream_timeout", "fal did not answer in time."));
        }, plan.timeouts.headers)
      : undefined;
  const release = () => {
    if (headersTimer !== undefined) clearTimeout(headersTimer);
    request.signal.removeEventListener("abort", onClientAbort);
  };

  const init: RequestInitWithDuplex = {
    method: plan.method,
    headers,
    body,
    signal: controller.signal,
    redirect: "manual",
  };
  if (body !== null && typeof body !== "string") init.duplex = "half";

  const sentAt = performance.now();
  let upstream: Response;
  try {
    upstream = await fetch(plan.origin + plan.path, init);
  } catch (error) {
    release();
    const clientGone = request.signal.aborted && !timedOut;
    const failure = plan.failure(error, { timedOut, clientGone, tooLarge: meter.tooLarge });
    plan.settle(
      outcome(failure.status, failure.code, clientGone ? "client_closed" : failure.code, meter.bytes, 0),
    );
    return toResponse(plan.errorReply(failure));
  } finally {
    if (headersTimer !== undefined) clearTimeout(headersTimer);
  }
  const upstreamMs = performance.now() - sentAt;

  const responseHeaders = answerHeaders(upstream.headers, plan);
  const status = upstream.status;
  const header = (name: string) => upstream.headers.get(name);
  const captured = plan.capture > 0 ? new Prefix(plan.capture) : null;
  const report = (bytesOut: number, error: string | null) =>
    plan.settle({
      status,
      code: null,
      error,
      bytesIn: meter.bytes,
      bytesOut,
      header,
      upstreamMs,
      body: captured?.bytes() ?? null,
    });

  if (upstream.body === null || plan.method === "HEAD" || NULL_BODY_STATUS.has(status)) {
    if (upstream.body) upstream.body.cancel().catch(() => undefined);
    release();
    report(0, null);
    return new Response(null, { status, statusText: upstream.statusText, headers: responseHeaders });
  }

  const relayed = relayBody(upstream.body, {
    idleTimeout: plan.timeouts.idle,
    length: relayedLength(responseHeaders),
    onIdle: () => controller.abort(new FalgateError("upstream_timeout", "fal stopped sending data.")),
    ...(captured ? { onChunk: (chunk: Uint8Array) => captured.add(chunk) } : {}),
    onEnd: (end, bytesOut) => {
      release();
      if (end.kind === "done") return report(bytesOut, null);
      if (end.kind === "cancelled") return report(bytesOut, "client_closed");
      const reason = controller.signal.aborted ? controller.signal.reason : end.error;
      // The client going away aborts upstream first on some runtimes: that is a client close, not fal's fault.
      if (!(reason instanceof FalgateError) && request.signal.aborted)
        return report(bytesOut, "client_closed");
      plan.warnTruncated(reason);
      report(bytesOut, reason instanceof FalgateError ? reason.code : "upstream_error");
    },
  });
  return new Response(relayed, { status, statusText: upstream.statusText, headers: responseHeaders });
}

/** fal's answer headers on the allowlist (minus content-encoding/length when decoded), plus falgate's. */
function answerHeaders(upstream: Headers, plan: ForwardPlan): Headers {
  const out = new Headers();
  const connection = connectionTokens(upstream.get("connection"));
  // fetch() has already decoded a compressed body: the length and encoding no longer describe the bytes we send.
  // An encoding fetch does not decode arrives as-is, so its headers must stay.
  const decoded = isDecodedEncoding(upstream.get("content-encoding"));
  upstream.forEach((value, name) => {
    if (!relaysResponseHeader(name, connection)) return;
    if (decoded && (name === "content-encoding" || name === "content-length")) return;
    out.append(name, value);
  });
  for (const [name, value] of plan.responseHeaders) {
    if (name === "vary") out.append(name, value);
    else out.set(name, value);
  }
  return out;
}

/**
 * The length of a body relayed unchanged: fal's `content-length` when {@link answerHeaders} kept it (it drops it for
 * a decoded body). Giving the relayed stream that length keeps the answer length-delimited on runtimes that frame a
 * stream themselves (workerd), so an answer fal cuts short is short on the wire, not a clean end.
 */
function relayedLength(headers: Headers): number | null {
  const value = headers.get("content-length");
  if (value === null || !/^\d{1,15}$/.test(value)) return null;
  return Number(value);
}

function outcome(
  status: number,
  code: ForwardOutcome["code"],
  error: string | null,
  bytesIn: number,
  bytesOut: number,
): ForwardOutcome {
  return { status, code, error, bytesIn, bytesOut, header: NO_HEADER, upstreamMs: 0 };
}

/** The first `limit` bytes of a body, copied as they pass (the body itself is never held). */
export class Prefix {
  private readonly buffer: Uint8Array;
  private length = 0;

  constructor(limit: number) {
    this.buffer = new Uint8Array(limit);
  }

  /** Copies what still fits of `chunk`. */
  add(chunk: Uint8Array): void {
    const room = this.buffer.byteLength - this.length;
    if (room <= 0) return;
    const part = chunk.byteLength <= room ? chunk : chunk.subarray(0, room);
    this.buffer.set(part, this.length);
    this.length += part.byteLength;
  }

  /** What was copied. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}
