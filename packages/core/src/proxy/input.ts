import { FalgateError } from "../errors.js";

/**
 * The request as the pipeline reads it. A Web binding wraps a Fetch `Request` ({@link webInput}); the Node binding
 * wraps an `IncomingMessage` without building a `Request` unless a hook asks for one.
 */
export interface CallInput {
  /** Upper-case method. */
  readonly method: string;
  /** The absolute URL the client called (scheme and host as the binding saw them). */
  readonly url: string;
  /** A request header by lower-case name (repeated headers joined with `, `), or `null`. */
  header(name: string): string | null;
  /** Calls `fn` with every request header (lower-case name, value as {@link header} gives it). */
  forEachHeader(fn: (name: string, value: string) => void): void;
  /** The Fetch `Request` given to hooks (bindings without one build it on first access, without its body). */
  readonly request: Request;
  /** Reads the whole body, at most `limit` bytes (token requests); rejects with `payload_too_large` past it. */
  readBody(limit: number): Promise<Uint8Array>;
}

/** Wraps a Fetch `Request` as the pipeline's input. */
export function webInput(request: Request): CallInput {
  return {
    method: request.method,
    url: request.url,
    header: (name) => request.headers.get(name),
    forEachHeader: (fn) => {
      request.headers.forEach((value, name) => {
        fn(name, value);
      });
    },
    request,
    readBody: (limit) => readStream(request.body, limit),
  };
}

/** Reads a Web stream to its end, at most `limit` bytes; a missing body reads as empty. */
export async function readStream(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw bodyTooLarge(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** The 413 for a body over `max` bytes (the one message every binding uses). */
export function bodyTooLarge(max: number): FalgateError {
  return new FalgateError(
    "payload_too_large",
    `Request body exceeds the ${max} byte limit of this proxy (option \`maxBodySize\`).`,
  );
}
