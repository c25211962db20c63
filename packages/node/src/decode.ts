import { Transform, type TransformCallback } from "node:stream";
import zlib from "node:zlib";

// Sync flush on both ends, as undici's fetch does: output follows input chunk by chunk (SSE stays live) and a
// body cut short after a complete block is not an error.
const ZLIB_OPTIONS: zlib.ZlibOptions = {
  flush: zlib.constants.Z_SYNC_FLUSH,
  finishFlush: zlib.constants.Z_SYNC_FLUSH,
};
const BROTLI_OPTIONS: zlib.BrotliOptions = {
  flush: zlib.constants.BROTLI_OPERATION_FLUSH,
  finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
};

/**
 * The decoders for a `content-encoding` value, outermost coding last (applied in reverse order), or `null`
 * when there is nothing to decode or a coding is unknown (then, like fetch, the bytes pass as they are).
 */
export function decodersFor(contentEncoding: string | null): Transform[] | null {
  if (!contentEncoding) return null;
  const codings = contentEncoding
    .toLowerCase()
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "" && c !== "identity");
  if (codings.length === 0) return null;
  const decoders: Transform[] = [];
  for (const coding of codings.reverse()) {
    if (coding === "gzip" || coding === "x-gzip") decoders.push(zlib.createGunzip(ZLIB_OPTIONS));
    else if (coding === "deflate") decoders.push(new InflateAuto());
    else if (coding === "br") decoders.push(zlib.createBrotliDecompress(BROTLI_OPTIONS));
    else {
      for (const d of decoders) d.destroy();
      return null;
    }
  }
  return decoders;
}

/** `deflate` as servers really send it: zlib-wrapped (RFC 1950) or, against the spec, raw (RFC 1951). */
class InflateAuto extends Transform {
  private inner: zlib.Inflate | zlib.InflateRaw | null = null;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.inner === null) {
      if (chunk.length === 0) {
        callback();
        return;
      }
      // A zlib header's first byte has compression method 8 in its low nibble.
      this.inner =
        (chunk[0]! & 0x0f) === 0x08 ? zlib.createInflate(ZLIB_OPTIONS) : zlib.createInflateRaw(ZLIB_OPTIONS);
      this.inner.on("data", (data: Buffer) => {
        if (!this.push(data)) this.inner?.pause();
      });
      this.inner.on("error", (error) => this.destroy(error));
    }
    this.inner.write(chunk, callback);
  }

  override _read(size: number): void {
    this.inner?.resume();
    super._read(size);
  }

  override _flush(callback: TransformCallback): void {
    if (this.inner === null) {
      callback();
      return;
    }
    this.inner.once("end", () => callback());
    this.inner.end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner?.destroy();
    callback(error);
  }
}
