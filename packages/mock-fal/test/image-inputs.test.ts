import { crc32, deflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockFal, startMockFal } from "../src/index.js";
import { decodePng, type RgbImage } from "../src/png-decode.js";
import { falFetch, parseSse, postJson } from "./helpers.js";

// Image-to-image: an `image_url` the mock can read shapes the output, so a page shows a result that depends on the
// upload. And `publicUrl`: the URLs written into answers can point at another origin (or none: relative).

interface ImageOut {
  images: { url: string }[];
}

/** A PNG of `rows` (unfiltered bytes per row), each row filtered with `filters[y % filters.length]`. */
function encodePng(options: {
  width: number;
  height: number;
  colorType: number;
  bitDepth: number;
  rows: Buffer[];
  palette?: Buffer;
  transparency?: Buffer;
  filters?: number[];
}): Buffer {
  const { width, height, colorType, bitDepth, rows } = options;
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
  const bpp = Math.max(1, (channels * bitDepth) >> 3);
  const filters = options.filters ?? [0];
  const out: Buffer[] = [];
  rows.forEach((row, y) => {
    const filter = filters[y % filters.length]!;
    const up = y > 0 ? rows[y - 1]! : Buffer.alloc(row.length);
    const filtered = Buffer.alloc(row.length + 1);
    filtered[0] = filter;
    for (let x = 0; x < row.length; x++) {
      const a = x >= bpp ? row[x - bpp]! : 0;
      const b = up[x]!;
      const c = x >= bpp ? up[x - bpp]! : 0;
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - b) <= Math.abs(p - c)
            ? b
            : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
      filtered[x + 1] = (row[x]! - predictor) & 0xff;
    }
    out.push(filtered);
  });
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "latin1");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...(options.palette ? [chunk("PLTE", options.palette)] : []),
    ...(options.transparency ? [chunk("tRNS", options.transparency)] : []),
    chunk("IDAT", deflateSync(Buffer.concat(out))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A plain 8-bit RGB picture of one colour. */
function solid(width: number, height: number, rgb: [number, number, number]): Buffer {
  const row = Buffer.alloc(width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, x * 3);
  return encodePng({
    width,
    height,
    colorType: 2,
    bitDepth: 8,
    rows: Array.from({ length: height }, () => row),
    filters: [0, 1, 2, 3, 4],
  });
}

/** The mean colour of a decoded picture. */
function mean(image: RgbImage): [number, number, number] {
  const sum = [0, 0, 0];
  for (let i = 0; i < image.rgb.length; i += 3) for (let c = 0; c < 3; c++) sum[c]! += image.rgb[i + c]!;
  const n = image.width * image.height;
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

async function upload(mock: MockFal, png: Buffer, name = "in.png"): Promise<string> {
  const init = await postJson(mock, "rest.fal.ai", "/storage/upload/initiate", {
    content_type: "image/png",
    file_name: name,
  });
  const { upload_url, file_url } = (await init.json()) as { upload_url: string; file_url: string };
  const put = await fetch(new URL(upload_url, mock.url), { method: "PUT", body: new Uint8Array(png) });
  expect(put.status).toBe(200);
  return file_url;
}

async function picture(mock: MockFal, url: string): Promise<RgbImage> {
  const res = await fetch(new URL(url, mock.url));
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("image/png");
  return decodePng(Buffer.from(await res.arrayBuffer()))!;
}

const I2I = "/fal-ai/fast-sdxl/image-to-image";
const RED: [number, number, number] = [220, 20, 20];
const BLUE: [number, number, number] = [20, 40, 220];

let mock: MockFal;
beforeAll(async () => {
  mock = await startMockFal({ queueMs: 20, runMs: 80 });
});
afterAll(() => mock.close());

describe("image-to-image", () => {
  it("draws the output over the uploaded picture, so two uploads give two different results", async () => {
    const red = await upload(mock, solid(64, 48, RED));
    const blue = await upload(mock, solid(40, 90, BLUE));
    const run = async (image_url?: string) =>
      (
        (await (
          await postJson(mock, "fal.run", I2I, { prompt: "same prompt", image_url })
        ).json()) as ImageOut
      ).images[0]!.url;
    const [fromRed, fromBlue, plain] = [await run(red), await run(blue), await run()];
    expect(fromRed).toMatch(/\/_cdn\/images\/[0-9a-f]{24}-[0-9a-f]{24}\.png$/);
    expect(fromBlue).not.toBe(fromRed);
    expect(plain).toMatch(/\/_cdn\/images\/[0-9a-f]{24}\.png$/);
    expect(await run(red)).toBe(fromRed); // deterministic

    const [r, b] = [mean(await picture(mock, fromRed)), mean(await picture(mock, fromBlue))];
    expect(r[0]).toBeGreaterThan(r[2] + 60); // the red upload shows through
    expect(b[2]).toBeGreaterThan(b[0] + 60); // and the blue one
  });

  it("applies to queued runs and to stream previews", async () => {
    const red = await upload(mock, solid(30, 30, RED));
    const submit = await postJson(mock, "queue.fal.run", I2I, { prompt: "queued", image_url: red });
    const { request_id } = (await submit.json()) as { request_id: string };
    await new Promise((resolve) => setTimeout(resolve, 150));
    const result = await falFetch(mock, "queue.fal.run", `/fal-ai/fast-sdxl/requests/${request_id}`);
    const queued = ((await result.json()) as ImageOut).images[0]!.url;
    expect(queued).toMatch(/-[0-9a-f]{24}\.png$/);
    expect(mean(await picture(mock, queued))[0]).toBeGreaterThan(120);

    const stream = await postJson(mock, "fal.run", `${I2I}/stream`, { prompt: "streamed", image_url: red });
    const { events } = parseSse(await stream.text());
    const urls = (events as ImageOut[]).map((e) => e.images[0]!.url);
    expect(urls.length).toBeGreaterThan(1);
    for (const url of urls) expect(mean(await picture(mock, url))[0]).toBeGreaterThan(120);
  });

  it("reads data: URLs and its own images; ignores what it cannot fetch offline", async () => {
    const dataUrl = `data:image/png;base64,${solid(8, 8, BLUE).toString("base64")}`;
    const out = (await (
      await postJson(mock, "fal.run", I2I, { prompt: "data", image_url: dataUrl })
    ).json()) as ImageOut;
    const first = out.images[0]!.url;
    expect(mean(await picture(mock, first))[2]).toBeGreaterThan(120);

    // An output used as the next input (any origin: matched by path).
    const chained = (await (
      await postJson(mock, "fal.run", I2I, {
        prompt: "again",
        image_url: first.replace(mock.url, "https://x.test"),
      })
    ).json()) as ImageOut;
    expect(chained.images[0]!.url).toMatch(/-[0-9a-f]{24}\.png$/);

    const external = (await (
      await postJson(mock, "fal.run", I2I, { prompt: "data", image_url: "https://example.com/cat.png" })
    ).json()) as ImageOut;
    expect(external.images[0]!.url).toMatch(/\/[0-9a-f]{24}\.png$/);
  });

  it("keys a picture it cannot decode by its bytes (the id still depends on the upload)", async () => {
    const a = await upload(mock, Buffer.from("\xff\xd8\xff not really a jpeg", "latin1"), "a.jpg");
    const b = await upload(mock, Buffer.from("\xff\xd8\xff another one", "latin1"), "b.jpg");
    const url = async (image_url: string) =>
      ((await (await postJson(mock, "fal.run", I2I, { prompt: "jpeg", image_url })).json()) as ImageOut)
        .images[0]!.url;
    const [fromA, fromB] = [await url(a), await url(b)];
    expect(fromA).toMatch(/-[0-9a-f]{24}\.png$/);
    expect(fromA).not.toBe(fromB);
    expect((await picture(mock, fromA)).width).toBe(256);
  });

  it("`imageInputs: false` ignores image_url", async () => {
    const off = await startMockFal({ imageInputs: false });
    try {
      const red = await upload(off, solid(8, 8, RED));
      const out = (await (
        await postJson(off, "fal.run", I2I, { prompt: "p", image_url: red })
      ).json()) as ImageOut;
      const plain = (await (await postJson(off, "fal.run", I2I, { prompt: "p" })).json()) as ImageOut;
      expect(out.images[0]!.url).toBe(plain.images[0]!.url);
    } finally {
      await off.close();
    }
    await expect(startMockFal({ imageInputs: "yes" as unknown as boolean })).rejects.toThrow(/imageInputs/);
  });
});

describe("decodePng", () => {
  const check = (png: Buffer, expected: number[][]) => {
    const image = decodePng(png)!;
    expect(image).not.toBeNull();
    const pixels = [];
    for (let i = 0; i < image.rgb.length; i += 3) pixels.push([...image.rgb.subarray(i, i + 3)]);
    expect(pixels).toEqual(expected);
  };

  it("reads every colour type and bit depth, with every filter", () => {
    const rows2 = (a: number[], b: number[]) => [Buffer.from(a), Buffer.from(b)];
    // Grey 8 bit, 2x2, rows filtered Sub then Paeth.
    check(
      encodePng({
        width: 2,
        height: 2,
        colorType: 0,
        bitDepth: 8,
        rows: rows2([0, 255], [128, 64]),
        filters: [1, 4],
      }),
      [
        [0, 0, 0],
        [255, 255, 255],
        [128, 128, 128],
        [64, 64, 64],
      ],
    );
    // Grey 2 bit: samples 0..3 scaled to 0..255, packed 4 to a byte.
    check(encodePng({ width: 4, height: 1, colorType: 0, bitDepth: 2, rows: [Buffer.from([0b00011011])] }), [
      [0, 0, 0],
      [85, 85, 85],
      [170, 170, 170],
      [255, 255, 255],
    ]);
    // Palette 1 bit with a transparent entry (flattened onto white).
    check(
      encodePng({
        width: 3,
        height: 1,
        colorType: 3,
        bitDepth: 1,
        rows: [Buffer.from([0b01000000])],
        palette: Buffer.from([10, 20, 30, 200, 100, 0]),
        transparency: Buffer.from([0]),
      }),
      [
        [255, 255, 255],
        [200, 100, 0],
        [255, 255, 255],
      ],
    );
    // RGB 16 bit (high bytes kept), filtered Up then Average.
    check(
      encodePng({
        width: 1,
        height: 2,
        colorType: 2,
        bitDepth: 16,
        rows: rows2([1, 0, 2, 0, 3, 0], [250, 9, 128, 9, 7, 9]),
        filters: [2, 3],
      }),
      [
        [1, 2, 3],
        [250, 128, 7],
      ],
    );
    // Grey+alpha and RGBA 8 bit: half transparent black over white is mid grey.
    check(encodePng({ width: 1, height: 1, colorType: 4, bitDepth: 8, rows: [Buffer.from([0, 128])] }), [
      [127, 127, 127],
    ]);
    check(
      encodePng({ width: 1, height: 1, colorType: 6, bitDepth: 8, rows: [Buffer.from([255, 0, 0, 255])] }),
      [[255, 0, 0]],
    );
  });

  it("returns null for what it does not read", () => {
    expect(decodePng(Buffer.from("not a png"))).toBeNull();
    const png = solid(4, 4, RED);
    expect(decodePng(png.subarray(0, png.length - 30))).toBeNull(); // cut inside IDAT
    const interlaced = Buffer.from(png);
    interlaced[28] = 1; // IHDR interlace byte (the CRC no longer matches; the decoder does not check CRCs)
    expect(decodePng(interlaced)).toBeNull();
    expect(decodePng(solid(64, 64, RED), { maxPixels: 1000 })).toBeNull();
  });
});

describe("publicUrl", () => {
  it("a root-relative publicUrl makes image, file and upload URLs relative", async () => {
    const local = await startMockFal({ publicUrl: "/" });
    try {
      expect(local.publicUrl).toBe("");
      const out = (await (
        await postJson(local, "fal.run", "/fal-ai/flux/dev", { prompt: "p" })
      ).json()) as ImageOut;
      expect(out.images[0]!.url).toMatch(/^\/_cdn\/images\/[0-9a-f]{24}\.png$/);
      const init = await postJson(local, "rest.fal.ai", "/storage/upload/initiate", { file_name: "a.png" });
      const { upload_url, file_url } = (await init.json()) as { upload_url: string; file_url: string };
      expect(upload_url).toMatch(/^\/_cdn\/upload\//);
      expect(file_url).toMatch(/^\/_cdn\/files\//);
      // The relative upload URL works against whatever origin forwards /_cdn/* (here: the mock itself).
      expect(
        (
          await fetch(new URL(upload_url, local.url), {
            method: "PUT",
            body: new Uint8Array(solid(4, 4, RED)),
          })
        ).status,
      ).toBe(200);
      const derived = (await (
        await postJson(local, "fal.run", I2I, { prompt: "p", image_url: file_url })
      ).json()) as ImageOut;
      expect(mean(await picture(local, derived.images[0]!.url))[0]).toBeGreaterThan(120);
    } finally {
      await local.close();
    }
  });

  it("an absolute publicUrl (with a path) prefixes them; url and jwksUrl stay the mock's", async () => {
    const local = await startMockFal({ publicUrl: "https://demo.example/mock/" });
    try {
      expect(local.publicUrl).toBe("https://demo.example/mock");
      const out = (await (
        await postJson(local, "fal.run", "/fal-ai/flux/dev", { prompt: "p" })
      ).json()) as ImageOut;
      expect(out.images[0]!.url).toMatch(/^https:\/\/demo\.example\/mock\/_cdn\/images\//);
      expect(local.jwksUrl.startsWith(local.url)).toBe(true);
    } finally {
      await local.close();
    }
  });

  it("rejects a publicUrl that is neither", async () => {
    for (const bad of ["demo.example", "//demo.example", "ftp://x", "/a?b", "https://x/#y", 42]) {
      await expect(startMockFal({ publicUrl: bad as string }), String(bad)).rejects.toThrow(/publicUrl/);
    }
  });
});
