import {
  type ClientRequest,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from "node:http";
import { connect } from "node:net";
import { createGunzip } from "node:zlib";

/** A request to the handler under test, sent on a fresh connection. */
export interface SendOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Uint8Array;
  /** Abort the client side after this signal fires. */
  signal?: AbortSignal;
}

/** A complete answer: status, headers as Node parsed them, the raw body bytes. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header names and values exactly as received, in order. */
  rawHeaders: string[];
  body: Buffer;
  text(): string;
  json<T = unknown>(): T;
}

/** Sends one request over a real socket (no connection reuse) and reads the whole answer. */
export async function send(url: string, options: SendOptions = {}): Promise<Answer> {
  const response = await open(url, options);
  const body = await readAll(response.message);
  response.close();
  return answer(response.message, body);
}

/** An answer whose body is still streaming, plus a way to drop the connection. */
export interface OpenResponse {
  message: IncomingMessage;
  /** Destroys the socket (a client that vanished). */
  close(): void;
}

/** Sends a request and resolves once the answer's headers arrived; the body is left unread. */
export function open(url: string, options: SendOptions = {}): Promise<OpenResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const headers = { ...(options.headers ?? {}) };
    const names = Object.keys(headers).map((name) => name.toLowerCase());
    // Node sends DELETE/OPTIONS bodies without framing unless told their length.
    if (
      options.body !== undefined &&
      !names.includes("content-length") &&
      !names.includes("transfer-encoding")
    ) {
      headers["content-length"] = String(Buffer.byteLength(options.body));
    }
    const req: ClientRequest = httpRequest(target, {
      method: options.method ?? "GET",
      headers,
      agent: false,
      signal: options.signal,
    });
    let answered = false;
    // Errors after the answer arrived (a reset after an early 413) belong to the body reader, not to open().
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    req.once("response", (message) => {
      answered = true;
      resolve({ message, close: () => req.destroy() });
    });
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/** Reads a message body to its end. */
export function readAll(message: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    message.on("data", (chunk: Buffer) => chunks.push(chunk));
    message.once("end", () => resolve(Buffer.concat(chunks)));
    message.once("error", reject);
    message.once("aborted", () => reject(new Error("response aborted")));
  });
}

/** Reads from a streaming body until `predicate` accepts what arrived so far (the rest stays unread). */
export function readUntil(
  message: IncomingMessage,
  predicate: (received: string) => boolean,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = "";
    const onData = (chunk: Buffer) => {
      received += chunk.toString("utf8");
      if (predicate(received)) {
        cleanup();
        message.pause();
        resolve(received);
      }
    };
    const onEnd = () => {
      cleanup();
      reject(
        new Error(`stream ended before the expected data; got ${JSON.stringify(received.slice(0, 500))}`),
      );
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      message.off("data", onData);
      message.off("end", onEnd);
      message.off("error", onError);
    };
    message.on("data", onData);
    message.once("end", onEnd);
    message.once("error", onError);
  });
}

function answer(message: IncomingMessage, body: Buffer): Answer {
  return {
    status: message.statusCode ?? 0,
    headers: message.headers,
    rawHeaders: message.rawHeaders,
    body,
    text: () => body.toString("utf8"),
    json: <T>() => JSON.parse(body.toString("utf8")) as T,
  };
}

/**
 * POSTs a `fal.stream` call with `accept-encoding: gzip` and resolves with the first SSE event, decompressed as it
 * arrives (rejects if none comes within `timeoutMs`): proves no compressing layer holds events back.
 */
export async function firstGzippedEvent(
  url: string,
  timeoutMs = 10_000,
): Promise<{ status: number; encoding: string | undefined; event: unknown }> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(url, {
      method: "POST",
      agent: false,
      headers: {
        "sec-fetch-site": "same-origin",
        "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl/stream",
        "content-type": "application/json",
        accept: "text/event-stream",
        "accept-encoding": "gzip",
      },
    });
    req.once("response", resolve);
    req.once("error", reject);
    req.end(JSON.stringify({ prompt: "a long stream" }));
  });
  try {
    const text = await new Promise<string>((resolve, reject) => {
      let received = "";
      const gunzip = createGunzip();
      const timer = setTimeout(
        () => reject(new Error(`no event within ${timeoutMs} ms; got ${JSON.stringify(received)}`)),
        timeoutMs,
      );
      gunzip.on("data", (chunk: Buffer) => {
        received += chunk.toString("utf8");
        if (!/data: .*\n\n/.test(received)) return;
        clearTimeout(timer);
        resolve(received);
      });
      gunzip.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      res.pipe(gunzip);
    });
    return {
      status: res.statusCode ?? 0,
      encoding: res.headers["content-encoding"],
      event: JSON.parse(/data: (.*)\n\n/.exec(text)![1]!),
    };
  } finally {
    res.destroy();
  }
}

/** What {@link sendRaw} read back: the status of the first answer (0 if none) and everything received. */
export interface RawAnswer {
  status: number;
  text: string;
}

/**
 * Writes `head` (a request head with `\r\n` line ends, the body after it) as-is over a fresh socket, so it can carry
 * bytes an HTTP client refuses to send, and reads until the server closes or `timeoutMs` passes.
 */
export function sendRaw(url: string, head: string, timeoutMs = 3000): Promise<RawAnswer> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(target.port), target.hostname);
    let text = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), text });
    };
    const timer = setTimeout(done, timeoutMs);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.once("error", done);
    socket.once("close", done);
    socket.write(head, "latin1");
  });
}
