import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";

/** Side of every generated image, in pixels. */
export const IMAGE_SIZE = 256;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** How much of an image-to-image input shows through its output's rings. */
const SOURCE_WEIGHT = 0.65;

/**
 * Renders a deterministic 256x256 RGB PNG for `id` (any string): colours and rings derive from its SHA-256.
 * `step`/`steps` below the final step pixelate the same picture, for progressive stream previews. With `source`
 * (a 256x256 RGB picture, an image-to-image input) the rings are a tint over that picture, so the output visibly
 * depends on it.
 */
export function renderPng(id: string, step?: number, steps?: number, source?: Buffer): Buffer {
  const h = createHash("sha256").update(id).digest();
  const size = IMAGE_SIZE;
  const a = [h[0]!, h[1]!, h[2]!];
  const b = [h[3]!, h[4]!, h[5]!];
  const rings = 3 + (h[6]! % 7);
  const cx = 48 + (h[7]! % 160);
  const cy = 48 + (h[8]! % 160);
  const tilt = (h[9]! / 255) * Math.PI;
  const remaining = step !== undefined && steps !== undefined ? Math.max(0, steps - step) : 0;
  const block = remaining > 0 ? 1 << Math.min(6, remaining + 1) : 1;
  const tinted = source !== undefined && source.length === size * size * 3;
  const raw = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) {
    const row = y * (size * 3 + 1);
    raw[row] = 0; // filter: none
    const sy = y - (y % block);
    for (let x = 0; x < size; x++) {
      const sx = x - (x % block);
      const d = Math.hypot(sx - cx, sy - cy);
      const wave = 0.5 + 0.5 * Math.sin((d / size) * rings * 2 * Math.PI);
      const slope = 0.5 + 0.5 * Math.cos(tilt + ((sx + sy) / size) * Math.PI);
      const t = 0.7 * wave + 0.3 * slope;
      const o = row + 1 + x * 3;
      const s = (sy * size + sx) * 3;
      for (let c = 0; c < 3; c++) {
        const ring = a[c]! * t + b[c]! * (1 - t);
        raw[o + c] = Math.round(tinted ? SOURCE_WEIGHT * source![s + c]! + (1 - SOURCE_WEIGHT) * ring : ring);
      }
    }
  }
  return encodeRgbPng(size, size, raw);
}

/** A PNG of 8-bit RGB rows, each already prefixed with its filter byte. */
function encodeRgbPng(width: number, height: number, filteredRows: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(filteredRows, { level: 6 })),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A small LRU cache in front of {@link renderPng} (rendering costs a few ms). */
export class PngCache {
  private readonly entries = new Map<string, Buffer>();
  constructor(private readonly capacity = 64) {}

  /** The PNG for `id` at `step` of `steps` (final image when absent), tinted over `source` when given. */
  get(id: string, step?: number, steps?: number, source?: Buffer): Buffer {
    const key = `${id}|${step ?? ""}|${steps ?? ""}|${source ? "source" : ""}`;
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const png = renderPng(id, step, steps, source);
    this.entries.set(key, png);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return png;
  }
}
