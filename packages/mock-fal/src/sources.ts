import { createHash } from "node:crypto";
import { IMAGE_SIZE } from "./png.js";
import { coverSquare, decodePng } from "./png-decode.js";
import type { MockState } from "./state.js";

/** Length of a source key: hex characters of the input's SHA-256. */
const KEY_LENGTH = 24;

/**
 * Image-to-image inputs the mock has read, keyed by a short hash of their bytes: the 256x256 picture their outputs
 * are drawn over (`null` when the bytes are not a PNG the mock can decode: the output then depends on the bytes
 * only through its id). The newest `capacity` are kept (about 200 KB each).
 */
export class ImageSources {
  private readonly pictures = new Map<string, Buffer | null>();

  constructor(private readonly capacity = 64) {}

  /** Registers an input's bytes and returns its key. */
  add(bytes: Buffer): string {
    const key = createHash("sha256").update(bytes).digest("hex").slice(0, KEY_LENGTH);
    const known = this.pictures.get(key);
    this.pictures.delete(key);
    if (known !== undefined) {
      this.pictures.set(key, known);
      return key;
    }
    const decoded = decodePng(bytes);
    this.pictures.set(key, decoded ? coverSquare(decoded, IMAGE_SIZE) : null);
    if (this.pictures.size > this.capacity) this.pictures.delete(this.pictures.keys().next().value!);
    return key;
  }

  /** The picture of an image id's source (`{hash}-{key}` ids), if it is known and decodable. */
  forImage(id: string): Buffer | undefined {
    const key = SOURCE_SUFFIX.exec(id)?.[1];
    return (key && this.pictures.get(key)) || undefined;
  }

  clear(): void {
    this.pictures.clear();
  }
}

/** Image ids drawn over an input end in `-{source key}`. */
const SOURCE_SUFFIX = new RegExp(`-([0-9a-f]{${KEY_LENGTH}})$`);

const CDN_FILE = /^\/_cdn\/files\/([0-9a-f]+)(?:\/|$)/;
const CDN_IMAGE = /^\/_cdn\/images\/([A-Za-z0-9_-]{1,128})\.png$/;
const DATA_URL = /^data:([^,]*?)(;base64)?,(.*)$/s;

/**
 * The source key of an `image_url` input, or `undefined` when the option is off or the mock cannot read it. It reads
 * what it can without a network: a `data:` URL, a file uploaded to its storage and one of its own images, by path
 * (any origin, or a relative URL: the mock may be served behind another origin, see `publicUrl`).
 */
export function sourceOf(state: MockState, imageUrl: unknown): string | undefined {
  if (!state.options.imageInputs || typeof imageUrl !== "string" || imageUrl === "") return undefined;
  const bytes = readImage(state, imageUrl);
  return bytes ? state.sources.add(bytes) : undefined;
}

function readImage(state: MockState, url: string): Buffer | undefined {
  const data = DATA_URL.exec(url);
  if (data) {
    return data[2] ? Buffer.from(data[3]!, "base64") : Buffer.from(decodeURIComponent(data[3]!), "latin1");
  }
  let parsed: URL;
  try {
    parsed = new URL(url, "http://mock");
  } catch {
    return undefined;
  }
  const file = CDN_FILE.exec(parsed.pathname);
  if (file) {
    const stored = state.files.lookup(file[1]!);
    return stored?.complete ? stored.bytes : undefined;
  }
  const image = CDN_IMAGE.exec(parsed.pathname);
  return image ? imagePng(state, image[1]!) : undefined;
}

/** The PNG of a generated image id (at `step` of `steps` for stream previews), drawn over its source if any. */
export function imagePng(state: MockState, id: string, step?: number, steps?: number): Buffer {
  return state.pngs.get(id, step, steps, state.sources.forImage(id));
}
