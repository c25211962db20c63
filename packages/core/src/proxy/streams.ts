import { bodyTooLarge } from "./input.js";

/** Byte counters shared between the forwarder and its streams. */
export interface BodyMeter {
  bytes: number;
  /** Set when the request body passed the cap. */
  tooLarge: boolean;
}

/**
 * Passes a request body through, counting bytes and failing the stream past `max` bytes (0 = no cap).
 * Pull-based (no TransformStream and pipe loop): one web stream per body, read only as upstream pulls.
 */
export function capBody(
  body: ReadableStream<Uint8Array>,
  max: number,
  meter: BodyMeter,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        meter.bytes += value.byteLength;
        if (max > 0 && meter.bytes > max) {
          meter.tooLarge = true;
          const error = bodyTooLarge(max);
          controller.error(error);
          await reader.cancel(error).catch(() => undefined);
          return;
        }
        controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/** How a relayed response body ended. */
export type BodyEnd =
  | { kind: "done" }
  | { kind: "cancelled"; reason: unknown }
  | { kind: "failed"; error: unknown };

/**
 * A pull source with workerd's `expectedLength` extension: a stream of known length is sent with `content-length`,
 * and workerd closes the connection short when such a stream fails before its length (other runtimes ignore it).
 */
type LengthSource = UnderlyingDefaultSource<Uint8Array> & { expectedLength?: number };

/**
 * Relays an upstream body to the client without buffering: counts bytes, enforces an idle timeout (longest
 * time a read from upstream stays pending; a slow client that has not asked for more never counts) and
 * reports once how the stream ended. Cancelling it (client gone) cancels upstream. A failed upstream read errors
 * the stream (never closes it), so the binding can abort the answer instead of ending it as if complete.
 */
export function relayBody(
  source: ReadableStream<Uint8Array>,
  options: {
    idleTimeout: number;
    onIdle: () => void;
    onEnd: (end: BodyEnd, bytes: number) => void;
    /** Sees each chunk as it passes (it must not keep a reference it later mutates). */
    onChunk?: (chunk: Uint8Array) => void;
    /** The body's length when relayed unchanged (fal's `content-length`), so a cut answer is short on the wire. */
    length?: number | null;
  },
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let bytes = 0;
  let ended = false;
  // When the pending upstream read started; `undefined` while the client has not asked for more.
  let waitingSince: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const finish = (end: BodyEnd) => {
    if (ended) return;
    ended = true;
    if (timer !== undefined) clearTimeout(timer);
    options.onEnd(end, bytes);
  };
  // One timer per stream, re-armed lazily: a read only records its start, so the hot path stays a store.
  const arm = (delay: number) => {
    timer = setTimeout(() => {
      const waited = waitingSince === undefined ? 0 : Date.now() - waitingSince;
      if (waited >= options.idleTimeout) {
        options.onIdle();
        return;
      }
      arm(options.idleTimeout - waited);
    }, delay);
  };

  const underlying: LengthSource = {
    start() {
      if (options.idleTimeout > 0) arm(options.idleTimeout);
    },
    async pull(controller) {
      waitingSince = Date.now();
      try {
        const { done, value } = await reader.read();
        waitingSince = undefined;
        if (done) {
          finish({ kind: "done" });
          controller.close();
          return;
        }
        bytes += value.byteLength;
        options.onChunk?.(value);
        controller.enqueue(value);
      } catch (error) {
        waitingSince = undefined;
        finish({ kind: "failed", error });
        controller.error(error);
      }
    },
    cancel(reason) {
      finish({ kind: "cancelled", reason });
      return reader.cancel(reason).catch(() => undefined);
    },
  };
  if (options.length != null) underlying.expectedLength = options.length;
  // highWaterMark 0: read upstream only when the client pulls, so a slow client slows the upstream read.
  return new ReadableStream<Uint8Array>(underlying, { highWaterMark: 0 });
}
