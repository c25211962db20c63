import { classifyFrame, decodeMessage, encodeMessage, type RealtimeEncoding } from "./codec.js";
import { FalgateRealtimeError, isFalgateRealtimeError } from "./errors.js";
import { createTokenProvider, type TokenProvider } from "./token.js";
import { DEFAULT_PROXY_URL, realtimeAppPath, resolveProxyUrl, tunnelUrl } from "./url.js";

// Handler properties typed bivariantly so the DOM WebSocket and `ws` both fit without casts.
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The part of the WebSocket API `connectRealtime` uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor (`globalThis.WebSocket`, or `ws`'s `WebSocket` in Node). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Where a realtime connection is: `failed` after the retries ran out (the next `send` starts over). */
export type RealtimeState = "idle" | "connecting" | "open" | "reconnecting" | "failed";

/**
 * Reconnection policy after a drop; times in milliseconds. A connection counts as healthy, resetting the
 * backoff and the retry count, only once it has stayed open 5 s: one that drops sooner is a failure even
 * if it delivered results, so a server that crashes after every answer cannot cause a fast reconnect loop.
 */
export interface ReconnectOptions {
  /** Consecutive failed attempts (including connections that dropped within 5 s) before giving up (state `failed`). @default 5 */
  maxRetries?: number;
  /** First delay; doubled on each failure, with jitter. @default 250 */
  minDelay?: number;
  /** Longest delay. @default 5000 */
  maxDelay?: number;
}

/** Options of {@link connectRealtime}. */
export interface ConnectRealtimeOptions<Output> {
  /** Called with every result frame (msgpack or JSON, decoded). */
  onResult: (result: Output) => void;
  /** Token refusals, `x-fal-error` frames, abnormal closes; `error.willRetry` says if a reconnect follows. */
  onError?: (error: FalgateRealtimeError) => void;
  /** Called on every state change (to show "connecting..." in a UI). */
  onStateChange?: (state: RealtimeState) => void;
  /** The falgate mount; the tunnel is `{proxyUrl}/{app}/realtime` in `ws(s):`. @default "/api/fal/proxy" */
  proxyUrl?: string;
  /** Base for a relative `proxyUrl` (needed outside a browser). @default location.href */
  baseUrl?: string;
  /** Frame format of inputs: binary msgpack (fal's default) or JSON text. Results are decoded either way. @default "msgpack" */
  encoding?: RealtimeEncoding;
  /** `max_buffering` (1..60) forwarded to fal. */
  maxBuffering?: number;
  /** A custom realtime path replacing `/realtime`, as in the official client. */
  path?: string;
  /** Fetches a falgate token per connection. @default createTokenProvider({ proxyUrl, type: "falgate" }) */
  tokenProvider?: TokenProvider;
  /** Inputs kept while (re)connecting; the oldest is dropped beyond it (realtime wants the newest). @default 16 */
  maxQueuedMessages?: number;
  /** Reconnect with a fresh token when the connection drops, or `false` to stay down. */
  reconnect?: ReconnectOptions | false;
  /** The WebSocket implementation. @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
}

/** A realtime connection through the tunnel, opened lazily on the first `send`. */
export interface RealtimeConnection<Input> {
  /** Sends one input; queued (bounded) while connecting. */
  send(input: Input): void;
  /** Closes the connection with 1000 and drops queued inputs; a later `send` connects again. */
  close(): void;
  /** The current state. */
  readonly state: RealtimeState;
}

const OPEN = 1;
const NORMAL_CLOSURE = 1000;
/** A connection open this long counts as healthy (resets the backoff); results alone do not. */
const STABLE_AFTER_MS = 5_000;

interface Settings {
  maxRetries: number;
  minDelay: number;
  maxDelay: number;
  maxQueued: number;
}

function settingsOf<Output>(options: ConnectRealtimeOptions<Output>): Settings {
  const nonNegative = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`falgate: \`${name}\` must be a non-negative number, got ${String(value)}`);
    }
    return value;
  };
  const reconnect = options.reconnect === false ? { maxRetries: 0 } : (options.reconnect ?? {});
  const maxBuffering = options.maxBuffering;
  if (
    maxBuffering !== undefined &&
    (!Number.isInteger(maxBuffering) || maxBuffering < 1 || maxBuffering > 60)
  ) {
    throw new TypeError("falgate: `maxBuffering` must be an integer between 1 and 60");
  }
  if (options.encoding !== undefined && options.encoding !== "msgpack" && options.encoding !== "json") {
    throw new TypeError('falgate: `encoding` must be "msgpack" or "json"');
  }
  return {
    maxRetries: nonNegative("reconnect.maxRetries", reconnect.maxRetries, 5),
    minDelay: nonNegative("reconnect.minDelay", reconnect.minDelay, 250),
    maxDelay: nonNegative("reconnect.maxDelay", reconnect.maxDelay, 5_000),
    maxQueued: Math.max(1, nonNegative("maxQueuedMessages", options.maxQueuedMessages, 16)),
  };
}

/**
 * Opens a realtime connection to `app` through falgate's tunnel, with the message semantics of
 * `fal.realtime.connect`: msgpack by default (JSON allowed), `x-fal-message` ignored, `x-fal-error` and
 * `Unauthorized` frames reported through `onError`. Each connection uses a fresh falgate token; when the
 * connection drops it reconnects with a new one (bounded exponential backoff), queueing inputs meanwhile.
 * @example
 * const conn = connectRealtime("fal-ai/fast-lcm-diffusion", { onResult: (r) => show(r.images[0]) });
 * conn.send({ prompt: "a cat", image_url: dataUrl });
 */
export function connectRealtime<Input = unknown, Output = unknown>(
  app: string,
  options: ConnectRealtimeOptions<Output>,
): RealtimeConnection<Input> {
  if (typeof options?.onResult !== "function") throw new TypeError("falgate: `onResult` is required");
  const settings = settingsOf(options);
  const encoding = options.encoding ?? "msgpack";
  const appPath = realtimeAppPath(app, options.path);
  const proxyUrl = options.proxyUrl ?? DEFAULT_PROXY_URL;
  resolveProxyUrl(proxyUrl, options.baseUrl);
  const WebSocketImpl =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? missingWebSocket();
  const tokenProvider =
    options.tokenProvider ?? createTokenProvider({ proxyUrl, baseUrl: options.baseUrl, type: "falgate" });
  const report = (error: FalgateRealtimeError) => options.onError?.(error);

  let state: RealtimeState = "idle";
  let generation = 0;
  let failures = 0;
  let socket: WebSocketLike | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  const queue: (string | Uint8Array)[] = [];
  /** Inputs sent on the current socket before it answered (a result or an error frame); `null` once it did. */
  let inflight: (string | Uint8Array)[] | null = null;

  const setState = (next: RealtimeState) => {
    if (state === next) return;
    state = next;
    options.onStateChange?.(next);
  };

  /** After a failed attempt: back off and try again with a fresh token, or give up. */
  const retryOrFail = (error: FalgateRealtimeError | null, retryable: boolean) => {
    failures++;
    const willRetry = retryable && failures <= settings.maxRetries;
    if (error !== null) report(error.withRetry(willRetry));
    if (!willRetry) {
      queue.length = 0;
      failures = 0;
      setState("failed");
      return;
    }
    setState("reconnecting");
    const base = Math.min(settings.maxDelay, settings.minDelay * 2 ** (failures - 1));
    const gen = generation;
    retryTimer = setTimeout(
      () => {
        retryTimer = undefined;
        if (gen === generation) void open();
      },
      base / 2 + Math.random() * (base / 2),
    );
  };

  const open = async (): Promise<void> => {
    const gen = ++generation;
    setState(failures > 0 ? "reconnecting" : "connecting");
    let token: string;
    try {
      token = await tokenProvider(appPath);
    } catch (error) {
      if (gen !== generation) return;
      const err = isFalgateRealtimeError(error)
        ? error
        : new FalgateRealtimeError(
            "token",
            "token_failed",
            error instanceof Error ? error.message : "Token request failed.",
            {
              cause: error,
            },
          );
      retryOrFail(err, isRetryableTokenError(err));
      return;
    }
    if (gen !== generation) return;

    let ws: WebSocketLike;
    try {
      ws = new WebSocketImpl(
        tunnelUrl(resolveProxyUrl(proxyUrl, options.baseUrl), appPath, token, options.maxBuffering),
      );
    } catch (error) {
      retryOrFail(
        new FalgateRealtimeError("closed", "connect_failed", "Could not open the WebSocket.", {
          cause: error,
        }),
        false,
      );
      return;
    }
    socket = ws;
    ws.binaryType = "arraybuffer";
    let openedAt: number | null = null;
    // An error frame is the real story of the close that follows it: report one, not both.
    let frameError = false;
    // After an Unauthorized frame even a clean close means "try again with a new token".
    let refused = false;
    // Frames decode one after another so results keep their order whatever the data type.
    let decoding: Promise<void> = Promise.resolve();
    inflight = [];

    ws.onerror = () => {};
    ws.onopen = () => {
      if (gen !== generation) return;
      openedAt = Date.now();
      setState("open");
      while (queue.length > 0 && ws.readyState === OPEN) transmit(ws, queue.shift()!);
    };
    const onFrame = (decoded: unknown) => {
      if (gen !== generation) return;
      const frame = classifyFrame(decoded);
      if (frame.kind === "result") {
        inflight = null;
        frameError = false;
        options.onResult(frame.value as Output);
        return;
      }
      if (frame.kind === "ignore") return;
      frameError = true;
      const willRetry = failures + 1 <= settings.maxRetries;
      if (frame.kind === "unauthorized") {
        refused = true;
        report(
          unauthorized(frame.reason ? `Unauthorized: ${frame.reason}` : "Unauthorized", decoded).withRetry(
            willRetry,
          ),
        );
        // The token was refused: nothing more goes through this socket; queue until the next one.
        setState("reconnecting");
        closeQuietly(ws);
      } else {
        // The answer to the input in flight: it is not sent again, or a poison input would be replayed
        // on every reconnect.
        inflight = null;
        const message = frame.reason ? `${frame.error}: ${frame.reason}` : frame.error;
        report(
          new FalgateRealtimeError("server", frame.error, message, { body: decoded }).withRetry(willRetry),
        );
      }
    };
    ws.onmessage = (event) => {
      if (gen !== generation) return;
      decoding = decoding
        .then(() => decodeMessage(event.data))
        .then(onFrame, (error: unknown) => {
          if (gen !== generation) return;
          report(
            new FalgateRealtimeError("decode", "decode_error", "Could not decode a realtime message.", {
              cause: error,
            }),
          );
        })
        .catch(rethrowLater);
    };
    ws.onclose = (event) => {
      // Closes are handled after the frames that preceded them.
      decoding = decoding
        .then(() => {
          if (gen !== generation) return;
          socket = null;
          if (openedAt !== null && Date.now() - openedAt >= STABLE_AFTER_MS) failures = 0;
          if (event.code === NORMAL_CLOSURE && !refused) {
            // A clean end (idle timeout, session length): stay down until there is something to send.
            inflight = null;
            setState("idle");
            if (queue.length > 0) void open();
            return;
          }
          // Inputs this socket took but never answered (a refused token answers none) go out again.
          if (inflight !== null) requeue(inflight);
          inflight = null;
          const error = frameError
            ? null
            : new FalgateRealtimeError(
                "closed",
                `closed_${event.code}`,
                `The realtime connection closed (${event.code}${event.reason ? `: ${event.reason}` : ""}).`,
                { closeCode: event.code },
              );
          retryOrFail(error, true);
        })
        .catch(rethrowLater);
    };
  };

  /** Sends on `ws`, remembering the input until the socket answers (first result or error frame). */
  const transmit = (ws: WebSocketLike, data: string | Uint8Array) => {
    ws.send(data);
    if (inflight !== null) {
      inflight.push(data);
      if (inflight.length > settings.maxQueued) inflight.shift();
    }
  };

  const requeue = (items: (string | Uint8Array)[]) => {
    queue.unshift(...items);
    while (queue.length > settings.maxQueued) queue.shift();
  };

  return {
    send(input) {
      const data = encodeMessage(input, encoding);
      if (state === "open" && socket !== null && socket.readyState === OPEN) {
        transmit(socket, data);
        return;
      }
      queue.push(data);
      if (queue.length > settings.maxQueued) queue.shift();
      if (state === "idle" || state === "failed") void open();
    },
    close() {
      generation++;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      queue.length = 0;
      inflight = null;
      failures = 0;
      const ws = socket;
      socket = null;
      if (ws !== null) closeQuietly(ws);
      setState("idle");
    },
    get state() {
      return state;
    },
  };
}

/** An exception from a user callback must reach the page's error handler, not break the frame chain. */
function rethrowLater(error: unknown): void {
  setTimeout(() => {
    throw error;
  }, 0);
}

function closeQuietly(ws: WebSocketLike): void {
  try {
    ws.close(NORMAL_CLOSURE);
  } catch {
    // Already closing.
  }
}

function unauthorized(message: string, body: unknown): FalgateRealtimeError {
  return new FalgateRealtimeError("unauthorized", "unauthorized", message, { body });
}

/** Token refusals that a retry cannot fix (signed out, endpoint refused): retry only network errors, 408, 429 and 5xx. */
function isRetryableTokenError(error: FalgateRealtimeError): boolean {
  const { status } = error;
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

function missingWebSocket(): never {
  throw new TypeError("falgate: no global WebSocket; pass `WebSocket` (e.g. from the `ws` package in Node)");
}
