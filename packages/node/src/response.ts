import type { ServerResponse } from "node:http";

/**
 * Writes a Web `Response` to a Node `ServerResponse`: status, headers (every `Set-Cookie`), and the body
 * streamed with `write()` back-pressure. Headers of an unknown-length body are flushed at once, and each chunk
 * is pushed through a compressing wrapper (`res.flush()` of `compression()`), so SSE reaches the client event by
 * event. Never throws: resolves when the body is sent or the client is gone (the body is then cancelled, which
 * cancels the upstream read behind it).
 * @example
 * await writeWebResponse(res, new Response("ok"));
 */
export async function writeWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const body = response.body;
  if (res.destroyed || res.writableEnded || res.headersSent) {
    // Someone else already answered (or the client left): nothing of this response can be sent.
    await body?.cancel().catch(() => undefined);
    if (!res.writableEnded && !res.destroyed) res.destroy();
    return;
  }
  try {
    writeHead(res, response);
  } catch {
    // Node refused a status or header value: a bare 502 beats a crash or a hanging client.
    res.statusCode = 502;
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    await body?.cancel().catch(() => undefined);
    return endAndWait(res);
  }
  if (body === null || res.req?.method === "HEAD") {
    await body?.cancel().catch(() => undefined);
    return endAndWait(res);
  }
  if (!res.hasHeader("content-length")) res.flushHeaders();
  await pump(res, body.getReader());
}

function writeHead(res: ServerResponse, response: Response): void {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  response.headers.forEach((value, name) => {
    if (name === "set-cookie") return;
    res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  // A request body not read to its end (413, an early upstream answer) leaves bytes on the socket that
  // would be parsed as the next request: close the connection after this response instead.
  if (res.req && !res.req.complete) res.shouldKeepAlive = false;
}

/** A response wrapped by the `compression` middleware, which adds `flush()`. */
type FlushableResponse = ServerResponse & { flush?: () => void };

async function pump(res: FlushableResponse, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  let gone = false;
  let wake: (() => void) | undefined;
  const onClose = () => {
    gone = !res.writableFinished;
    wake?.();
    if (gone) reader.cancel(new Error("The client closed the connection.")).catch(() => undefined);
  };
  const onDrain = () => wake?.();
  res.on("close", onClose);
  res.on("drain", onDrain);
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch {
        // The body failed half-way (upstream dropped, idle timeout): an orderly end would pass a truncated
        // body for a complete one, so the connection is aborted instead.
        if (!gone) res.destroy();
        return;
      }
      if (gone) return;
      if (result.done) break;
      const accepted = res.write(result.value);
      // A compressing wrapper (`compression()`, Next's built-in compression) holds bytes back in zlib until
      // it has enough to compress: push each chunk out so SSE events are not buffered behind it.
      if (typeof res.flush === "function") res.flush();
      if (!accepted && !gone) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        if (gone) return;
      }
    }
    await endAndWait(res);
  } finally {
    res.off("close", onClose);
    res.off("drain", onDrain);
    reader.releaseLock();
  }
}

function endAndWait(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    if (res.destroyed) return resolve();
    const done = () => {
      res.off("close", done);
      res.off("finish", done);
      resolve();
    };
    res.on("close", done);
    res.on("finish", done);
    res.end();
  });
}
