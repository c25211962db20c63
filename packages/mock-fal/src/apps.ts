import { createHash } from "node:crypto";
import type { AppPath } from "./http.js";
import { IMAGE_SIZE } from "./png.js";

/** One entry of a FastAPI/pydantic 422 `detail` array. */
export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type: string;
  ctx?: Record<string, unknown>;
}

/** An image in an output, as fal describes it. */
export interface OutputImage {
  url: string;
  width: number;
  height: number;
  content_type: string;
}

/** The text-to-image output every non-echo app returns. */
export interface ImageOutput {
  images: OutputImage[];
  timings: { inference: number };
  seed: number;
  has_nsfw_concepts: boolean[];
  prompt: string;
}

/** A validated input of an image app. */
export interface ImageInput {
  prompt: string;
  seed: number;
  numImages: number;
  syncMode: boolean;
  /** `mock_status`: the run fails with this HTTP status (400..599) instead of producing an output. */
  mockStatus: number | undefined;
  /** `image_url` as given (image-to-image apps), unchecked. */
  imageUrl: unknown;
  /** The key of the picture read from `imageUrl` (set by the route, see `sourceOf`): outputs are drawn over it. */
  source?: string;
}

/** `*\/echo` apps answer their input back unchanged and skip validation. */
export function isEcho(app: AppPath): boolean {
  return app.alias === "echo";
}

/**
 * The mock's one validation rule for every non-echo app: the input is an object with a non-empty string
 * `prompt`; optional `num_images` is an integer 1..8 and optional `seed` an integer. GET inputs come as
 * query strings, so numeric strings are accepted there.
 */
export function validateImageInput(input: unknown, fromQuery = false): ImageInput | FieldError[] {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return [{ loc: ["body"], msg: "Input should be a valid dictionary", type: "dict_type" }];
  }
  const record = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  const prompt = record.prompt;
  if (typeof prompt !== "string" || prompt.trim() === "") {
    errors.push(
      prompt === undefined
        ? { loc: ["body", "prompt"], msg: "Field required", type: "missing" }
        : { loc: ["body", "prompt"], msg: "Input should be a non-empty string", type: "string_type" },
    );
  }
  const integer = (field: string, min: number, max: number): number | undefined => {
    let value = record[field];
    if (value === undefined) return undefined;
    if (fromQuery && typeof value === "string" && /^-?\d+$/.test(value)) value = Number(value);
    if (typeof value !== "number" || !Number.isInteger(value)) {
      errors.push({ loc: ["body", field], msg: "Input should be a valid integer", type: "int_type" });
      return undefined;
    }
    if (value < min) {
      errors.push({
        loc: ["body", field],
        msg: `Input should be greater than or equal to ${min}`,
        type: "greater_than_equal",
        ctx: { ge: min },
      });
    } else if (value > max) {
      errors.push({
        loc: ["body", field],
        msg: `Input should be less than or equal to ${max}`,
        type: "less_than_equal",
        ctx: { le: max },
      });
    }
    return value;
  };
  const numImages = integer("num_images", 1, 8);
  const seed = integer("seed", 0, 2 ** 32 - 1);
  const mockStatus = integer("mock_status", 400, 599);
  if (errors.length > 0) return errors;
  const text = prompt as string;
  return {
    prompt: text,
    seed: seed ?? seedFor(text),
    numImages: numImages ?? 1,
    syncMode: record.sync_mode === true || record.sync_mode === "true",
    mockStatus,
    imageUrl: record.image_url,
  };
}

/** A stable seed derived from the prompt, so the same prompt always draws the same picture. */
export function seedFor(prompt: string): number {
  return createHash("sha256").update(prompt).digest().readUInt32BE(0) % 2 ** 31;
}

/**
 * The id of the `index`-th image for an app, prompt and seed (names `/_cdn/images/{id}.png`); an image drawn over
 * an input picture ends in `-{source key}`.
 */
export function imageId(app: AppPath, prompt: string, seed: number, index: number, source?: string): string {
  const named = `${app.base}|${prompt}|${seed}|${index}`;
  const id = createHash("sha256")
    .update(source ? `${named}|${source}` : named)
    .digest("hex")
    .slice(0, 24);
  return source ? `${id}-${source}` : id;
}

/** The URL of a generated image on the mock's CDN (`step`/`steps` for progressive previews). */
export function imageUrl(baseUrl: string, id: string, step?: number, steps?: number): string {
  const query = step !== undefined && steps !== undefined ? `?step=${step}&steps=${steps}` : "";
  return `${baseUrl}/_cdn/images/${id}.png${query}`;
}

/** The output of an image app for a validated input. */
export function imageOutput(
  baseUrl: string,
  app: AppPath,
  input: ImageInput,
  inferenceMs: number,
  progress?: { step: number; steps: number },
): ImageOutput {
  const images: OutputImage[] = [];
  for (let i = 0; i < input.numImages; i++) {
    const id = imageId(app, input.prompt, input.seed, i, input.source);
    images.push({
      url: imageUrl(baseUrl, id, progress?.step, progress?.steps),
      width: IMAGE_SIZE,
      height: IMAGE_SIZE,
      content_type: "image/png",
    });
  }
  return {
    images,
    timings: { inference: Math.round(inferenceMs) / 1000 },
    seed: input.seed,
    has_nsfw_concepts: images.map(() => false),
    prompt: input.prompt,
  };
}

/** A fal queue log line. */
export interface LogLine {
  message: string;
  level: "INFO" | "DEBUG" | "ERROR";
  source: "USER";
  timestamp: string;
}

const LOG_MESSAGES = ["Starting inference", "Step 1/3", "Step 2/3", "Step 3/3"];

/** The log lines a run started at `startedAt` has written after `elapsedMs` of its `runMs`. */
export function logsAt(startedAt: number, elapsedMs: number, runMs: number, completed: boolean): LogLine[] {
  const lines: LogLine[] = [];
  LOG_MESSAGES.forEach((message, k) => {
    const at = (k * runMs) / LOG_MESSAGES.length;
    if (completed || elapsedMs >= at) {
      lines.push({
        message,
        level: "INFO",
        source: "USER",
        timestamp: new Date(startedAt + at).toISOString(),
      });
    }
  });
  if (completed) {
    lines.push({
      message: "Inference complete",
      level: "INFO",
      source: "USER",
      timestamp: new Date(startedAt + runMs).toISOString(),
    });
  }
  return lines;
}
