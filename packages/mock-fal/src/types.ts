/** The fal hosts the mock impersonates; `"mock"` marks the mock's own routes (`/_cdn/*`). */
export type FalHost = "fal.run" | "queue.fal.run" | "rest.fal.ai" | "rest.alpha.fal.ai";

/** A structured logger (same shape as falgate's); the mock is silent without one. */
export interface MockLogger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Options of {@link startMockFal}; every field is optional. */
export interface MockFalOptions {
  /** TCP port; `0` picks a free one. @default 0 */
  port?: number;
  /** Interface to bind. @default "127.0.0.1" */
  host?: string;
  /** The key expected in `Authorization: Key <key>`. @default "mock-key-id:mock-key-secret" */
  key?: string;
  /** Time a queued request spends `IN_QUEUE`. @default 50 */
  queueMs?: number;
  /** Simulated inference time: the `IN_PROGRESS` phase of queued requests and the length of `/stream` answers. @default 150 */
  runMs?: number;
  /** Extra latency of a synchronous `fal.run` answer. @default 0 */
  syncRunMs?: number;
  /** Interval of `: keep-alive` comments on long SSE answers (one is always sent right after the headers). @default 15000 */
  keepAliveMs?: number;
  /** Request bodies up to this size are kept in `RecordedRequest.body`. @default 1048576 (1 MiB) */
  recordBodyLimit?: number;
  /** Total bytes of recorded bodies and WebSocket frames kept; the oldest are emptied beyond it. @default 134217728 (128 MiB) */
  recordBudget?: number;
  /** The newest this-many requests are kept in `requests` (trimmed in batches: up to 10% more may linger). @default 10000 */
  maxRecords?: number;
  /** Uploaded files are kept in memory up to this total size; beyond it only their hash and size are kept. @default 67108864 (64 MiB) */
  storageLimit?: number;
  /** Largest JSON input accepted by run/submit/token/initiate routes (413 beyond). @default 33554432 (32 MiB) */
  jsonLimit?: number;
  /** Gzip JSON answers when the request accepts gzip (as fal's edge does), for compressed-upstream tests. @default false */
  gzip?: boolean;
  /**
   * Where the URLs the mock writes into answers point: generated images, uploaded files' `file_url` and the
   * `upload_url` a client PUTs to. An http(s) URL (a reverse proxy in front of the mock's `/_cdn/*`), or a
   * root-relative path such as `"/"` (browsers resolve it against the page, so a page served by another origin that
   * forwards `/_cdn/*` to the mock never needs the mock's own port). Other URLs (`url`, `jwksUrl`) are unchanged.
   * @default the mock's own `url`
   */
  publicUrl?: string;
  /**
   * Image-to-image: when an image app's input has an `image_url` the mock can read (a `data:` URL, a file uploaded
   * to its storage, one of its own images; PNG), the output is drawn over that picture, so it visibly depends on it.
   * `false`: `image_url` is ignored.
   * @default true
   */
  imageInputs?: boolean;
  /** HS256 secret for the realtime tokens the mock mints (at least 32 bytes); random per instance when absent. */
  jwtSecret?: string;
  /** Structured logger; nothing is logged without one. */
  logger?: MockLogger;
  /** Delivery of `fal_webhook` POSTs when queued requests finish. @default { enabled: true } */
  webhooks?: MockWebhookOptions;
  /**
   * The `x-fal-billable-units` the mock reports: a number of units per output image for every app, a map from
   * endpoint id (`fal-ai/flux/dev`) or app (`fal-ai/flux`) to units per image (others: 1), or a function giving the
   * units of a call. Image apps multiply by `num_images`; echo apps count one.
   * @default 1 (units = num_images)
   */
  billableUnits?: BillableUnits;
}

/** How many units a call reports in `x-fal-billable-units`; see {@link MockFalOptions.billableUnits}. */
export type BillableUnits = number | Readonly<Record<string, number>> | ((call: BillableCall) => number);

/** What a `billableUnits` function is told about a call. */
export interface BillableCall {
  /** `[namespace/]owner/alias[/path]`, without `/stream` or queue suffixes (`fal-ai/flux/dev`). */
  endpoint: string;
  /** `[namespace/]owner/alias` (`fal-ai/flux`). */
  app: string;
  /** Images the call produces (0 for echo apps). */
  images: number;
  /** How it was called. */
  mode: "run" | "stream" | "queue";
}

/** A fetch-compatible function (`globalThis.fetch`, undici's, a test's). */
export type MockFetch = (url: string, init: RequestInit) => Promise<Response>;

/** Options of webhook delivery; see the README's "Webhooks" section. */
export interface MockWebhookOptions {
  /** Deliver at all; `false` only records the `fal_webhook` URL of a submit. @default true */
  enabled?: boolean;
  /** The transport of deliveries (route them anywhere, or fail them on purpose). @default globalThis.fetch */
  fetch?: MockFetch;
  /**
   * Origin to origin rewrites applied to webhook URLs before delivery, e.g. `{ "https://app.example.com":
   * "http://127.0.0.1:3000" }` to receive on a local server a URL that falgate's `webhookOrigins` (https only) admits.
   * @default {}
   */
  rewrite?: Readonly<Record<string, string>>;
  /** Retries after a failed attempt (network error, timeout or non-2xx); fal retries 10 times over 2 hours. @default 10 */
  retries?: number;
  /** Wait before the first retry, doubled for each next one. @default 100 */
  retryDelayMs?: number;
  /** Longest wait between two attempts. @default 5000 */
  maxRetryDelayMs?: number;
  /** Time an attempt may take before it counts as failed. @default 15000 */
  timeoutMs?: number;
  /** The `x-fal-webhook-user-id` sent. @default "mock-user" */
  userId?: string;
}

/** What {@link MockFal.signWebhook} signs besides the body; each field has a fresh default. */
export interface WebhookSignInit {
  /** @default a random UUID */
  requestId?: string;
  /** @default the `webhooks.userId` option */
  userId?: string;
  /** Unix seconds. @default now */
  timestamp?: number | string;
}

/** One webhook delivery attempt, on the {@link RecordedRequest} it produced. */
export interface WebhookAttempt {
  /** The URL called (after `rewrite`). */
  url: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Why the attempt failed without an HTTP answer (network error, timeout). */
  error?: string;
}

/** One WebSocket frame seen on a realtime connection. */
export interface RecordedFrame {
  /** `in`: received from the client; `out`: sent by the mock. */
  direction: "in" | "out";
  /** Binary frame (msgpack) or text frame (JSON). */
  binary: boolean;
  /** The exact payload bytes (emptied for old frames beyond `recordBudget`). */
  data: Buffer;
  /** Payload size in bytes. */
  size: number;
  /** `Date.now()` when seen. */
  at: number;
}

/** The kinds of fault {@link MockFal.fault} can inject. */
export type FaultKind = "delay" | "status" | "reset" | "reset-during-body" | "stall";

/** A request as the mock received it. Fields after `complete` are updated while the exchange goes on. */
export interface RecordedRequest {
  /** Sequence number, starting at 1 for each mock (not reset by `reset()`). */
  seq: number;
  /** `Date.now()` when the request headers arrived. */
  at: number;
  method: string;
  /** The fal host (`x-falgate-upstream-host`, default `fal.run`; a {@link FalHost} unless a caller sent another), or `"mock"` for `/_cdn/*`. */
  host: string;
  /** Path as received (not decoded). */
  path: string;
  /** Query string including `?`, or `""`. */
  search: string;
  /** Request headers, lowercase names; repeated headers joined with `", "`. */
  headers: Record<string, string>;
  /** True for a WebSocket upgrade. */
  websocket: boolean;
  /** `x-fal-request-id` the mock answered with (empty for its own routes). */
  requestId: string;
  /** Body bytes received so far. */
  bodyLength: number;
  /** Hex SHA-256 of the whole body, set when `complete`. */
  bodySha256: string;
  /** The body, when complete and at most `recordBodyLimit` bytes (dropped for old records beyond `recordBudget`). */
  body?: Buffer;
  /** The body parsed as JSON, when `body` is kept and is valid JSON. */
  json?: unknown;
  /** True once the whole body was received. */
  complete: boolean;
  /** HTTP status the mock answered (101 for an accepted upgrade). */
  status?: number;
  /** `Date.now()` when the answer was completely written (unset while streaming, stalled or aborted). */
  finishedAt?: number;
  /** True when the connection closed before the answer was complete (client gone, or a fault cut it). */
  aborted: boolean;
  /** The fault applied to this request, if any. */
  fault?: FaultKind;
  /** WebSocket frames both ways (realtime only; the newest 1000 are kept). */
  frames?: RecordedFrame[];
  /** WebSocket close code and reason (realtime only), once closed. */
  closeCode?: number;
  closeReason?: string;
  /**
   * Set on the records of webhook deliveries the mock *sent* (`method`, `host`, `path`, `headers`, `body` are what
   * it sent; `status` is the receiver's answer; `requestId` the queue request).
   */
  webhook?: WebhookAttempt;
}

/** Which requests a fault applies to; absent fields match everything. */
export interface FaultMatch {
  /** HTTP method, case-insensitive (`GET` also matches WebSocket upgrades). */
  method?: string;
  /** Exact host (`fal.run`, `queue.fal.run`, `rest.fal.ai`, `rest.alpha.fal.ai`, or `mock` for `/_cdn/*`). */
  host?: string;
  /** Regular expression tested against the path (without the query); a string is compiled with `new RegExp`. */
  path?: string | RegExp;
  /** How many matching requests the fault hits before it expires. @default Infinity (until `clearFaults()`) */
  times?: number;
  /** Wait this long before acting (the only effect of `kind: "delay"`). @default 0 */
  delayMs?: number;
}

/** A JSON value (fault bodies, control-route payloads). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * A fault to inject. `afterBytes` counts response *body* bytes (for WebSockets: outgoing payload bytes).
 * - `delay`: the normal answer, `delayMs` later.
 * - `status`: answer `status` with `body` (JSON unless a string) and `headers` instead of the normal answer.
 * - `reset`: read the request, then reset the TCP connection (RST) before any answer byte.
 * - `reset-during-body`: the normal answer, but the connection is destroyed after `afterBytes` body bytes.
 * - `stall`: the normal status and headers (and `afterBytes` body bytes), then silence until the client gives up.
 */
export type FaultSpec = FaultMatch &
  (
    | { kind: "delay" }
    | { kind: "status"; status: number; body?: JsonValue; headers?: Record<string, string> }
    | { kind: "reset" }
    | { kind: "reset-during-body"; afterBytes?: number }
    | { kind: "stall"; afterBytes?: number }
  );

/** A file uploaded through the mock's storage routes. */
export interface StoredFile {
  id: string;
  fileName: string;
  contentType: string;
  /** Total bytes received. */
  size: number;
  /** Hex SHA-256 of the content (empty while incomplete, or for an out-of-order multipart upload over the cap). */
  sha256: string;
  /** The bytes, while the mock's storage cap allows keeping them. */
  bytes?: Buffer;
  /** True once the upload (or the multipart `/complete`) finished. */
  complete: boolean;
  /** The URL the file is served at (`{url}/_cdn/files/...`). */
  url: string;
}

/** The claims of a realtime token minted by the mock. */
export interface MockTokenClaims {
  allowed_apps: string[];
  exp: number;
  iat: number;
}

/** A running mock; see the package README for the routes it serves. */
export interface MockFal {
  /** `http://HOST:PORT`: use it as falgate's `upstream`. */
  url: string;
  /** Where the URLs in answers (images, `file_url`, `upload_url`) point: the `publicUrl` option, else `url`. */
  publicUrl: string;
  /** `ws://HOST:PORT`. */
  wsUrl: string;
  /** The key it expects in `Authorization: Key <key>`. */
  key: string;
  /** Every HTTP request and WebSocket upgrade, oldest first (control routes excluded), and each webhook delivery attempt it sent (`webhook` set). */
  requests: RecordedRequest[];
  /** Resolves with the first record (past or future) matching `predicate` once its body is complete (or it aborted). @default timeoutMs 5000 */
  waitForRequest(
    predicate: (request: RecordedRequest) => boolean,
    timeoutMs?: number,
  ): Promise<RecordedRequest>;
  /** Adds a fault; the first matching fault wins, in the order added. Throws a `TypeError` for an invalid spec. */
  fault(spec: FaultSpec): void;
  /** Removes every fault. */
  clearFaults(): void;
  /** Clears records, faults, queue state and stored files (minted tokens stay valid until they expire). */
  reset(): void;
  /** The stored upload behind a `file_url` (or its id). */
  getFile(urlOrId: string): StoredFile | undefined;
  /** Verifies a token the mock minted; `null` when invalid or expired. */
  verifyToken(token: string): Promise<MockTokenClaims | null>;
  /** `{url}/.well-known/jwks.json`: the public keys of its webhook signatures (falgate's `jwksUrl`). */
  jwksUrl: string;
  /** The four `x-fal-webhook-*` headers for `body`, signed with the current webhook key (to forge tests' deliveries). */
  signWebhook(body: string | Uint8Array, init?: WebhookSignInit): Record<string, string>;
  /** Signs webhooks with a new key from now on; the previous one stays in the key set unless `keepPrevious` is false. */
  rotateWebhookKey(options?: { keepPrevious?: boolean }): void;
  /** Stops the server and destroys every open socket and timer. */
  close(): Promise<void>;
}
