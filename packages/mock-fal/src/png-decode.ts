import { inflateSync } from "node:zlib";

/** A decoded picture: 8-bit RGB, any alpha flattened onto white. */
export interface RgbImage {
  width: number;
  height: number;
  /** `width * height * 3` bytes, rows top to bottom. */
  rgb: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Samples per pixel of each PNG colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA). */
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

/** Limits that keep a hostile or huge upload from eating the mock's memory. */
export interface DecodeLimits {
  /** Largest `width * height`. @default 16_777_216 */
  maxPixels?: number;
  /** Largest inflated image data, bytes. @default 67_108_864 */
  maxBytes?: number;
}

/**
 * Decodes a PNG (every colour type and bit depth of the spec, non-interlaced) to 8-bit RGB. Returns `null` for
 * anything it cannot read: not a PNG, interlaced, corrupt, or over the limits. Enough for the mock to draw an
 * image-to-image output over an uploaded picture; not a general-purpose decoder.
 */
export function decodePng(bytes: Uint8Array, limits: DecodeLimits = {}): RgbImage | null {
  const maxPixels = limits.maxPixels ?? 16_777_216;
  const maxBytes = limits.maxBytes ?? 64 * 1024 * 1024;
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.length < 8 || !data.subarray(0, 8).equals(SIGNATURE)) return null;
  let header: { width: number; height: number; depth: number; type: number } | undefined;
  let palette: Buffer | undefined;
  let transparency: Buffer | undefined;
  const idat: Buffer[] = [];
  for (let at = 8; at + 12 <= data.length; ) {
    const length = data.readUInt32BE(at);
    const type = data.toString("latin1", at + 4, at + 8);
    const body = data.subarray(at + 8, at + 8 + length);
    if (body.length !== length) return null;
    at += 12 + length;
    if (type === "IHDR") {
      if (length !== 13 || body[10] !== 0 || body[11] !== 0 || body[12] !== 0) return null; // interlaced: no
      header = { width: body.readUInt32BE(0), height: body.readUInt32BE(4), depth: body[8]!, type: body[9]! };
    } else if (type === "PLTE") palette = body;
    else if (type === "tRNS") transparency = body;
    else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") break;
  }
  if (!header || idat.length === 0) return null;
  const { width, height, depth, type } = header;
  const channels = CHANNELS[type];
  if (!channels || !DEPTHS[type]!.includes(depth)) return null;
  if (width === 0 || height === 0 || width * height > maxPixels) return null;
  if (type === 3 && !palette) return null;
  const bitsPerPixel = channels * depth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const expected = (stride + 1) * height;
  if (expected > maxBytes) return null;
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected });
  } catch {
    return null;
  }
  if (raw.length < expected) return null;
  const pixels = unfilter(raw, stride, height, Math.max(1, bitsPerPixel >> 3));
  if (!pixels) return null;
  return { width, height, rgb: toRgb(pixels, header, stride, channels, palette, transparency) };
}

/** Reverses the per-row filters in place; returns the rows without their filter bytes, or null if corrupt. */
function unfilter(raw: Buffer, stride: number, height: number, bpp: number): Buffer | null {
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const up = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[up + x]! : 0;
      const c = x >= bpp && y > 0 ? out[up + x - bpp]! : 0;
      let predictor: number;
      switch (filter) {
        case 0:
          predictor = 0;
          break;
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          return null;
      }
      out[row + x] = (raw[src + x]! + predictor) & 0xff;
    }
  }
  return out;
}

function toRgb(
  rows: Buffer,
  header: { width: number; height: number; depth: number; type: number },
  stride: number,
  channels: number,
  palette: Buffer | undefined,
  transparency: Buffer | undefined,
): Buffer {
  const { width, height, depth, type } = header;
  const rgb = Buffer.alloc(width * height * 3);
  const max = (1 << Math.min(depth, 8)) - 1;
  // One sample, scaled to 0..255 (16-bit samples keep their high byte; palette indexes stay indexes).
  const sample = (row: number, index: number, scale: boolean): number => {
    if (depth === 16) return rows[row + index * 2]!;
    if (depth === 8) return rows[row + index]!;
    const bit = index * depth;
    const value = (rows[row + (bit >> 3)]! >> (8 - depth - (bit & 7))) & max;
    return scale ? Math.round((value * 255) / max) : value;
  };
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    for (let x = 0; x < width; x++) {
      const first = x * channels;
      let r: number;
      let g: number;
      let b: number;
      let alpha = 255;
      if (type === 3) {
        const index = sample(row, first, false);
        r = palette![index * 3] ?? 0;
        g = palette![index * 3 + 1] ?? 0;
        b = palette![index * 3 + 2] ?? 0;
        if (transparency && index < transparency.length) alpha = transparency[index]!;
      } else if (type === 0 || type === 4) {
        r = g = b = sample(row, first, true);
        if (type === 4) alpha = sample(row, first + 1, true);
      } else {
        r = sample(row, first, true);
        g = sample(row, first + 1, true);
        b = sample(row, first + 2, true);
        if (type === 6) alpha = sample(row, first + 3, true);
      }
      const o = (y * width + x) * 3;
      // Flattened onto white, as a browser shows a transparent PNG on a white page.
      rgb[o] = Math.round((r * alpha + 255 * (255 - alpha)) / 255);
      rgb[o + 1] = Math.round((g * alpha + 255 * (255 - alpha)) / 255);
      rgb[o + 2] = Math.round((b * alpha + 255 * (255 - alpha)) / 255);
    }
  }
  return rgb;
}

/** Scales and centre-crops a picture to `size × size` (nearest neighbour, covering the square like CSS `cover`). */
export function coverSquare(image: RgbImage, size: number): Buffer {
  const { width, height, rgb } = image;
  const scale = Math.max(size / width, size / height);
  const offsetX = (width - size / scale) / 2;
  const offsetY = (height - size / scale) / 2;
  const out = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(height - 1, Math.max(0, Math.floor(offsetY + (y + 0.5) / scale)));
    for (let x = 0; x < size; x++) {
      const sx = Math.min(width - 1, Math.max(0, Math.floor(offsetX + (x + 0.5) / scale)));
      rgb.copy(out, (y * size + x) * 3, (sy * width + sx) * 3, (sy * width + sx) * 3 + 3);
    }
  }
  return out;
}
