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
  // The pending pull's listeners and resolver: cancel() must detach them, or a chunk arriving after the
  // cancel would be enqueued on a closed stream (ERR_INVALID_STATE thrown from an event handler).
  let release: (() => void) | undefined;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (settled) return;
        return new Promise<void>((resolve) => {
          const cleanup = () => {
            release = undefined;
            source.off("readable", attempt);
            source.off("end", onEnd);
            source.off("error", onError);
            source.off("close", onClose);
          };
          const fail = (error: Error) => {
            if (settled) return;
            cleanup();
            settled = true;
            controller.error(error);
            resolve();
          };
          const onEnd = () => {
            if (settled) return;
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
            if (settled) return;
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
          release = () => {
            cleanup();
            resolve();
          };
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
        release?.();
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
