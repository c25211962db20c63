import type { Readable } from "node:stream";

/** Options of {@link readableToWeb}. */
export interface ReadableToWebOptions {
  /** Called with each chunk before it is enqueued; return an error to fail the web stream instead. */
  onChunk?: (chunk: Uint8Array) => Error | undefined;
  /** What cancelling the web stream does to the source. @default destroys the source */
  onCancel?: (source: Readable, reason: unknown) => void;
}

/**
 * Wraps a Node `Readable` as a web `ReadableStream` that reads only when the consumer pulls, so the
 * source's own buffer (and, behind it, TCP) carries the back-pressure. Unlike `Readable.toWeb` on Node 20,
 * it never drains the source into an unbounded queue.
 */
export function readableToWeb(
  source: Readable,
  options: ReadableToWebOptions = {},
): ReadableStream<Uint8Array> {
  const onCancel = options.onCancel ?? ((s: Readable, reason: unknown) => s.destroy(asError(reason)));
  let settled = false;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (settled) return;
        return new Promise<void>((resolve) => {
          const cleanup = () => {
            source.off("readable", attempt);
            source.off("end", onEnd);
            source.off("error", onError);
            source.off("close", onClose);
          };
          const fail = (error: Error) => {
            cleanup();
            settled = true;
            controller.error(error);
            resolve();
          };
          const onEnd = () => {
            cleanup();
            settled = true;
            controller.close();
            resolve();
          };
          const onError = (error: Error) => fail(error);
          const onClose = () => {
            if (source.readableEnded) return onEnd();
            fail(source.errored ?? prematureClose());
          };
          function attempt() {
            const chunk = source.read() as Buffer | string | null;
            if (chunk === null) {
              if (source.readableEnded) onEnd();
              return;
            }
            const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
            const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
            const error = options.onChunk?.(view);
            if (error) return fail(error);
            cleanup();
            controller.enqueue(view);
            resolve();
          }
          if (source.errored) return fail(source.errored);
          if (source.readableEnded) return onEnd();
          if (source.destroyed) return fail(prematureClose());
          source.on("readable", attempt);
          source.on("end", onEnd);
          source.on("error", onError);
          source.on("close", onClose);
          attempt();
        });
      },
      cancel(reason) {
        if (settled) return;
        settled = true;
        onCancel(source, reason);
      },
    },
    { highWaterMark: 0 },
  );
}

function prematureClose(): Error {
  return Object.assign(new Error("The stream closed before it ended."), {
    code: "ERR_STREAM_PREMATURE_CLOSE",
  });
}

function asError(reason: unknown): Error | undefined {
  if (reason === undefined) return undefined;
  return reason instanceof Error ? reason : new Error(String(reason));
}
