import type { IncomingMessage, ServerResponse } from "node:http";
import type { FalgateErrorCode } from "@falgate/core";
import {
  bodyTooLarge,
  connectionTokens,
  type ForwardPlan,
  Prefix,
  relaysResponseHeader,
  truncationCode,
} from "@falgate/core/binding";
import type { Dispatcher } from "undici";
import { addHeader } from "./headers.js";
import { declaresBody } from "./input.js";
import { lingerAfterAnswer } from "./linger.js";
import { writeReply } from "./reply.js";

const NO_HEADER = (): null => null;

/** A response wrapped by the `compression` middleware (or Next's), which adds `flush()`. */
type FlushableResponse = ServerResponse & { flush?: () => void };

/**
 * Executes a forward plan on Node: the client's body stream (or the re-encoded body a parser left) goes to fal
 * through an undici dispatcher, fal's answer is written to `res` chunk by chunk with `write()` back-pressure, and
 * nothing is buffered or converted to Web streams. Resolves when the call is over (answer sent, failed, or the
 * client gone); never rejects.
 */
export function forwardNode(
  plan: ForwardPlan,
  req: IncomingMessage,
  res: ServerResponse,
  parsed: Uint8Array | null | undefined,
  dispatcher: Dispatcher,
): Promise<void> {
  return new Promise<void>((resolve) => {
    new Exchange(plan, req, res, dispatcher, resolve).start(parsed);
  });
}

/**
 * One call in flight, as an undici dispatch handler (the handler protocol undici's clients call natively, so no
 * adapter object sits between the socket and this code).
 */
class Exchange {
  private abortUpstream: ((reason?: Error) => void) | undefined;
  private bytesIn = 0;
  private bytesOut = 0;
  /** Counting the relayed body against the cap (only when its length was not declared, and so not checked yet). */
  private capped = 0;
  private sentAt = 0;
  private upstreamMs = 0;
  private status = 0;
  private falHeaders: Buffer[] | null = null;
  private clientGone = false;
  private done = false;
  private paused = false;
  private resume: (() => void) | undefined;
  private readonly captured: Prefix | null;

  constructor(
    private readonly plan: ForwardPlan,
    private readonly req: IncomingMessage,
    private readonly res: FlushableResponse,
    private readonly dispatcher: Dispatcher,
    private readonly finish: () => void,
  ) {
    this.captured = plan.capture > 0 ? new Prefix(plan.capture) : null;
  }

  start(parsed: Uint8Array | null | undefined): void {
    const { plan, req, res } = this;
    const headers =
      plan.acceptEncoding === null ? plan.headers : [...plan.headers, "accept-encoding", plan.acceptEncoding];
    let body: string | Uint8Array | IncomingMessage | null = plan.body;
    if (body === null && plan.relayBody) {
      if (parsed !== undefined) body = parsed;
      else if (!req.readableEnded && declaresBody(req)) {
        body = req;
        if (req.headers["content-length"] === undefined && plan.maxBodySize > 0)
          this.capped = plan.maxBodySize;
      }
    }

    res.on("close", this.onClientClose);
    res.on("drain", this.onDrain);
    if (res.destroyed) {
      this.clientGone = true;
      this.end(502, "upstream_error", "client_closed");
      return;
    }
    this.sentAt = performance.now();
    this.dispatcher.dispatch(
      {
        origin: plan.origin,
        path: plan.path,
        method: plan.method as Dispatcher.HttpMethod,
        headers: headers as string[],
        body,
        headersTimeout: plan.timeouts.headers,
        bodyTimeout: plan.timeouts.idle,
      },
      // undici's types describe onBodySent's argument as a size; at runtime (7.x) it is the chunk: accept both.
      this as unknown as Dispatcher.DispatchHandler,
    );
  }

  private readonly onClientClose = () => {
    if (this.res.writableFinished || this.done) return;
    this.clientGone = true;
    this.abortUpstream?.(new Error("The client closed the connection."));
  };

  private readonly onDrain = () => {
    if (!this.paused) return;
    this.paused = false;
    this.resume?.();
  };

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.clientGone) abort(new Error("The client closed the connection."));
  }

  onBodySent(chunk: Buffer | string | number): void {
    this.bytesIn +=
      typeof chunk === "number"
        ? chunk
        : typeof chunk === "string"
          ? Buffer.byteLength(chunk)
          : chunk.byteLength;
    // Throwing here aborts the upstream request with this error (undici keeps the client's socket, so the 413 goes out).
    if (this.capped > 0 && this.bytesIn > this.capped) throw bodyTooLarge(this.capped);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx: wait for the final answer
    this.upstreamMs = performance.now() - this.sentAt;
    this.status = statusCode;
    this.falHeaders = rawHeaders;
    this.resume = resume;
    const { res, plan } = this;
    // An object, not Node's flat-array form: wrappers of writeHead (`compression`'s on-headers) read tuples.
    const out: Record<string, string | string[]> = {};
    let connection: ReadonlySet<string> | null = null;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      if (rawHeaders[i]!.length === 10 && rawHeaders[i]!.toString("latin1").toLowerCase() === "connection") {
        connection = connectionTokens(rawHeaders[i + 1]!.toString("latin1"));
      }
    }
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString("latin1").toLowerCase();
      if (relaysResponseHeader(name, connection)) addHeader(out, name, rawHeaders[i + 1]!.toString("latin1"));
    }
    // falgate's own (no-store, nosniff, the sandbox, CORS, the limits') replace fal's; `vary` adds up.
    for (const [name, value] of plan.responseHeaders) {
      if (name === "vary") addHeader(out, name, value);
      else out[name] = value;
    }
    try {
      // A request body not read to its end (an early answer) leaves bytes on the socket: close after this answer.
      if (!this.req.complete && plan.relayBody) lingerAfterAnswer(this.req, res);
      res.writeHead(statusCode, statusText, out);
    } catch {
      // Node refused a status or header value from fal: a bare 502 beats a crash or a hanging client.
      this.abortUpstream?.(new Error("unusable answer"));
      return false;
    }
    // Unknown length (SSE, chunked): send the headers now, so the client sees the answer start.
    if (!res.hasHeader("content-length")) res.flushHeaders();
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.byteLength;
    this.captured?.add(chunk);
    const accepted = this.res.write(chunk);
    // A compressing wrapper (`compression()`, Next's) holds bytes back: push each chunk out (SSE stays live).
    if (this.res.flush !== undefined) this.res.flush();
    if (!accepted) this.paused = true;
    return accepted;
  }

  onComplete(): void {
    // Settle before the last byte goes out: a client that sends its next call as soon as this one ends must find
    // this call's slot already given back.
    this.end(this.status, null, null);
    this.res.end();
  }

  onError(error: Error): void {
    const { res, plan } = this;
    if (this.status !== 0 && res.headersSent) {
      // The answer failed half-way: an orderly end would pass a truncated body for a complete one.
      if (this.clientGone) this.end(this.status, null, "client_closed");
      else {
        plan.warnTruncated(error);
        res.destroy();
        this.end(this.status, null, truncationCode(error));
      }
      return;
    }
    const tooLarge = this.capped > 0 && this.bytesIn > this.capped;
    const failure = plan.failure(error, { clientGone: this.clientGone, tooLarge });
    if (this.clientGone) {
      this.end(failure.status, failure.code, "client_closed");
      return;
    }
    // A body cut at the cap (undici stopped reading it): writeReply closes after the answer, lingering.
    this.end(failure.status, failure.code, failure.code);
    void writeReply(res, plan.errorReply(failure));
  }

  /** Settles once and detaches from the response. */
  private end(status: number, code: FalgateErrorCode | null, error: string | null): void {
    if (this.done) return;
    this.done = true;
    this.res.off("close", this.onClientClose);
    this.res.off("drain", this.onDrain);
    const raw = this.falHeaders;
    this.plan.settle({
      status,
      code,
      error,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      header: raw === null ? NO_HEADER : (name: string) => findHeader(raw, name),
      upstreamMs: this.upstreamMs,
      body: this.captured?.bytes() ?? null,
    });
    this.finish();
  }
}

function findHeader(raw: Buffer[], name: string): string | null {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toString("latin1").toLowerCase() === name) {
      return raw[i + 1]!.toString("latin1");
    }
  }
  return null;
}
