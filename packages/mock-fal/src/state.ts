import { FaultList } from "./faults.js";
import { FileStore } from "./files.js";
import { PngCache } from "./png.js";
import { QueueStore } from "./queue.js";
import { Recorder } from "./recorder.js";
import { ImageSources } from "./sources.js";
import { TokenIssuer } from "./tokens.js";
import type { BillableCall, BillableUnits, MockFalOptions, MockLogger } from "./types.js";
import { resolveWebhookOptions, WebhookSender } from "./webhooks.js";

/** The default key, in fal's `id:secret` form. */
export const DEFAULT_KEY = "mock-key-id:mock-key-secret";

/** Options with every default applied. */
export interface ResolvedOptions {
  port: number;
  host: string;
  key: string;
  queueMs: number;
  runMs: number;
  syncRunMs: number;
  keepAliveMs: number;
  recordBodyLimit: number;
  recordBudget: number;
  maxRecords: number;
  storageLimit: number;
  jsonLimit: number;
  gzip: boolean;
  /** `publicUrl` without its trailing slash (`""` for `"/"`); `undefined`: the mock's own url. */
  publicUrl: string | undefined;
  /** Image apps draw their output over a readable `image_url` input. */
  imageInputs: boolean;
  /** Units of a call for `x-fal-billable-units`. */
  billableUnits: (call: BillableCall) => number;
}

/** Everything the routes share. */
export interface MockState {
  options: ResolvedOptions;
  /** `http://host:port`, set once listening. */
  url: string;
  /** Where the URLs written into answers point (images, files, uploads): `publicUrl`, else `url`. */
  publicUrl: string;
  recorder: Recorder;
  faults: FaultList;
  queue: QueueStore;
  files: FileStore;
  tokens: TokenIssuer;
  pngs: PngCache;
  /** Pictures read from `image_url` inputs. */
  sources: ImageSources;
  webhooks: WebhookSender;
  /** Aborted by `close()`: ends every stream and timer. */
  lifetime: AbortSignal;
  logger: MockLogger | undefined;
}

function number(options: MockFalOptions, name: keyof MockFalOptions, fallback: number, min = 0): number {
  const value = options[name] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new TypeError(`mock-fal option \`${name}\` must be a number >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Validates options once and applies defaults; a bad option throws a `TypeError` naming it. */
export function resolveOptions(options: MockFalOptions): ResolvedOptions {
  const key = options.key ?? DEFAULT_KEY;
  if (typeof key !== "string" || key === "" || /\s/.test(key)) {
    throw new TypeError("mock-fal option `key` must be a non-empty string without spaces");
  }
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || host === "") throw new TypeError("mock-fal option `host` must be a string");
  const port = number(options, "port", 0);
  if (!Number.isInteger(port) || port > 65535) throw new TypeError("mock-fal option `port` must be 0..65535");
  return {
    port,
    host,
    key,
    queueMs: number(options, "queueMs", 50),
    runMs: number(options, "runMs", 150),
    syncRunMs: number(options, "syncRunMs", 0),
    keepAliveMs: number(options, "keepAliveMs", 15_000, 1),
    recordBodyLimit: number(options, "recordBodyLimit", 1024 * 1024),
    recordBudget: number(options, "recordBudget", 128 * 1024 * 1024),
    maxRecords: number(options, "maxRecords", 10_000, 1),
    storageLimit: number(options, "storageLimit", 64 * 1024 * 1024),
    jsonLimit: number(options, "jsonLimit", 32 * 1024 * 1024),
    gzip: options.gzip ?? false,
    publicUrl: publicUrl(options.publicUrl),
    imageInputs: boolean(options, "imageInputs", true),
    billableUnits: billing(options.billableUnits),
  };
}

function boolean(options: MockFalOptions, name: "imageInputs", fallback: boolean): boolean {
  const value = options[name] ?? fallback;
  if (typeof value !== "boolean") throw new TypeError(`mock-fal option \`${name}\` must be a boolean`);
  return value;
}

/** Validates `publicUrl`: an http(s) URL or a root-relative path, without query or fragment. */
function publicUrl(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const fail = () =>
    new TypeError(
      "mock-fal option `publicUrl` must be an http(s) URL or a path starting with `/`, without query or fragment",
    );
  if (typeof value !== "string" || /[?#\s]/.test(value)) throw fail();
  if (value.startsWith("/") && !value.startsWith("//")) return value.replace(/\/+$/, "");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail();
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw fail();
  return value.replace(/\/+$/, "");
}

/** Turns the `billableUnits` option into one function; a bad value throws a `TypeError`. */
function billing(option: BillableUnits | undefined): (call: BillableCall) => number {
  const units = (value: unknown, name: string): number => {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`mock-fal option \`${name}\` must be a number >= 0, got ${String(value)}`);
    }
    return value;
  };
  const perImage = (rate: number) => (call: BillableCall) => rate * Math.max(1, call.images);
  if (option === undefined) return perImage(1);
  if (typeof option === "number") return perImage(units(option, "billableUnits"));
  if (typeof option === "function") {
    return (call) => units(option(call), "billableUnits (the function's result)");
  }
  if (typeof option !== "object" || option === null) {
    throw new TypeError("mock-fal option `billableUnits` must be a number, an object or a function");
  }
  const rates = new Map<string, number>();
  for (const [id, rate] of Object.entries(option)) rates.set(id, units(rate, `billableUnits["${id}"]`));
  return (call) => perImage(rates.get(call.endpoint) ?? rates.get(call.app) ?? 1)(call);
}

/** Creates the shared state of a mock. */
export function createState(options: MockFalOptions, lifetime: AbortSignal): MockState {
  const resolved = resolveOptions(options);
  const recorder = new Recorder(resolved.recordBodyLimit, resolved.maxRecords, resolved.recordBudget);
  const state: MockState = {
    options: resolved,
    url: "",
    publicUrl: "",
    recorder,
    faults: new FaultList(),
    queue: new QueueStore(resolved.queueMs, resolved.runMs),
    files: new FileStore(resolved.storageLimit, () => state.publicUrl),
    tokens: new TokenIssuer(options.jwtSecret),
    pngs: new PngCache(),
    sources: new ImageSources(),
    webhooks: new WebhookSender(resolveWebhookOptions(options.webhooks), recorder, options.logger, lifetime),
    lifetime,
    logger: options.logger,
  };
  return state;
}
