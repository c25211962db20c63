import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";
import type { QueueEntry } from "./queue.js";
import type { Recorder } from "./recorder.js";
import type { MockFetch, MockLogger, MockWebhookOptions, WebhookSignInit } from "./types.js";

/** Webhook delivery options with every default applied. */
export interface ResolvedWebhookOptions {
  enabled: boolean;
  fetch: MockFetch | undefined;
  retries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  timeoutMs: number;
  userId: string;
  rewrite: ReadonlyMap<string, string>;
}

/** Validates the `webhooks` option; a bad field throws a `TypeError` naming it. */
export function resolveWebhookOptions(options: MockWebhookOptions | undefined): ResolvedWebhookOptions {
  const o = options ?? {};
  const num = (name: keyof MockWebhookOptions, fallback: number, min: number): number => {
    const value = o[name] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
      throw new TypeError(
        `mock-fal option \`webhooks.${name}\` must be a number >= ${min}, got ${String(value)}`,
      );
    }
    return value;
  };
  if (o.fetch !== undefined && typeof o.fetch !== "function") {
    throw new TypeError("mock-fal option `webhooks.fetch` must be a function");
  }
  const userId = o.userId ?? "mock-user";
  if (typeof userId !== "string" || !/^[\x21-\x7e]{1,128}$/.test(userId)) {
    throw new TypeError("mock-fal option `webhooks.userId` must be a printable string without spaces");
  }
  const rewrite = new Map<string, string>();
  for (const [from, to] of Object.entries(o.rewrite ?? {})) {
    try {
      rewrite.set(new URL(from).origin, new URL(to).origin);
    } catch {
      throw new TypeError(
        `mock-fal option \`webhooks.rewrite\` maps origins to origins, got ${from} -> ${to}`,
      );
    }
  }
  const retries = num("retries", 10, 0);
  if (!Number.isInteger(retries))
    throw new TypeError("mock-fal option `webhooks.retries` must be an integer");
  return {
    enabled: o.enabled ?? true,
    fetch: o.fetch,
    retries,
    retryDelayMs: num("retryDelayMs", 100, 0),
    maxRetryDelayMs: num("maxRetryDelayMs", 5000, 0),
    timeoutMs: num("timeoutMs", 15_000, 1),
    userId,
    rewrite,
  };
}

/** A public key as the mock's JWKS serves it. */
interface PublishedKey {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  use: "sig";
  alg: "EdDSA";
}

/** What a queued request ended as, for its webhook. */
export type WebhookOutcome =
  | { kind: "ok"; result: QueueEntry["result"] }
  | { kind: "error"; status: number; detail: unknown }
  | { kind: "cancelled" };

/**
 * Signs and delivers fal webhooks for queue requests that carry `fal_webhook`: a POST when the request completes
 * (or fails, or is cancelled), retried with backoff on a network error or a non-2xx answer, each attempt signed
 * afresh (new timestamp) and recorded. The Ed25519 key pair lives in memory only.
 */
export class WebhookSender {
  private signing: KeyObject;
  private published: PublishedKey[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Set<AbortController>();
  /** Bumped by `clear()`: deliveries of an older generation stop at their next step. */
  private generation = 0;

  constructor(
    readonly options: ResolvedWebhookOptions,
    private readonly recorder: Recorder,
    private readonly logger: MockLogger | undefined,
    private readonly lifetime: AbortSignal,
  ) {
    this.signing = this.addKey();
  }

  /** The key set (`GET /.well-known/jwks.json`). */
  jwks(): { keys: PublishedKey[] } {
    return { keys: this.published.map((key) => ({ ...key })) };
  }

  /** Signs with a new key from now on; the previous key stays in the key set unless `keepPrevious` is false. */
  rotate(keepPrevious = true): void {
    if (!keepPrevious) this.published = [];
    this.signing = this.addKey();
  }

  /** The four `x-fal-webhook-*` headers for `body`, signed with the current key. */
  sign(body: string | Uint8Array, init: WebhookSignInit = {}): Record<string, string> {
    const requestId = init.requestId ?? randomUUID();
    const userId = init.userId ?? this.options.userId;
    const timestamp = String(init.timestamp ?? Math.floor(Date.now() / 1000));
    const digest = createHash("sha256").update(body).digest("hex");
    const message = Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${digest}`, "utf8");
    return {
      "x-fal-webhook-request-id": requestId,
      "x-fal-webhook-user-id": userId,
      "x-fal-webhook-timestamp": timestamp,
      "x-fal-webhook-signature": sign(null, message, this.signing).toString("hex"),
    };
  }

  /** Schedules the delivery of `entry` for when it completes (`atMs`, a `Date.now()` time). */
  schedule(entry: QueueEntry, atMs: number, outcome: () => WebhookOutcome): void {
    if (!this.options.enabled || !entry.webhookUrl) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(entry.id);
        void this.deliver(entry, outcome());
      },
      Math.max(0, atMs - Date.now()),
    );
    timer.unref();
    this.timers.set(entry.id, timer);
  }

  /** Delivers now instead of at the scheduled time (a cancelled request). */
  deliverNow(entry: QueueEntry, outcome: WebhookOutcome): void {
    const timer = this.timers.get(entry.id);
    if (!timer) return;
    clearTimeout(timer);
    this.timers.delete(entry.id);
    void this.deliver(entry, outcome);
  }

  /** Drops scheduled deliveries and aborts the ones in flight (`reset()`, `close()`). */
  clear(): void {
    this.generation++;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const controller of this.inflight) controller.abort();
    this.inflight.clear();
  }

  private addKey(): KeyObject {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const x = String(publicKey.export({ format: "jwk" }).x);
    const kid = createHash("sha256").update(x).digest("hex").slice(0, 16);
    this.published.push({ kty: "OKP", crv: "Ed25519", x, kid, use: "sig", alg: "EdDSA" });
    return privateKey;
  }

  private async deliver(entry: QueueEntry, outcome: WebhookOutcome): Promise<void> {
    const generation = this.generation;
    const url = this.target(entry.webhookUrl!);
    const body = Buffer.from(pythonJson(webhookBody(entry, outcome)), "utf8");
    const sha256 = createHash("sha256").update(body).digest("hex");
    const attempts = this.options.retries + 1;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (generation !== this.generation || this.lifetime.aborted) return;
      const headers = {
        "content-type": "application/json",
        "user-agent": "mock-fal-webhooks",
        ...this.sign(body, { requestId: entry.id }),
      };
      const controller = new AbortController();
      this.inflight.add(controller);
      const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
      const at = Date.now();
      let status: number | undefined;
      let error: string | undefined;
      try {
        const transport = this.options.fetch ?? fetch;
        const response = await transport(url, { method: "POST", headers, body, signal: controller.signal });
        status = response.status;
        await response.arrayBuffer().catch(() => undefined);
      } catch (cause) {
        error = controller.signal.aborted
          ? `no answer within ${this.options.timeoutMs} ms`
          : cause instanceof Error
            ? cause.message
            : String(cause);
      } finally {
        clearTimeout(timer);
        this.inflight.delete(controller);
      }
      if (generation !== this.generation || this.lifetime.aborted) return;
      const target = new URL(url);
      const record = this.recorder.create({
        method: "POST",
        host: target.host,
        path: target.pathname,
        search: target.search,
        headers,
        websocket: false,
      });
      Object.assign(record, {
        at,
        requestId: entry.id,
        bodyLength: body.length,
        webhook: { url, attempt, ...(error !== undefined ? { error } : {}) },
        ...(status !== undefined ? { status } : {}),
        finishedAt: Date.now(),
      });
      this.recorder.finishBody(record, sha256, body);
      if (status !== undefined && status >= 200 && status < 300) return;
      if (attempt === attempts) break;
      const delay = Math.min(this.options.maxRetryDelayMs, this.options.retryDelayMs * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
    }
    this.logger?.warn("mock-fal webhook delivery gave up", { requestId: entry.id, attempts });
  }

  /** The URL to call: `rewrite` maps the webhook's origin (e.g. a public https origin to a local server). */
  private target(webhookUrl: string): string {
    const url = new URL(webhookUrl);
    const to = this.options.rewrite.get(url.origin);
    return to ? `${to}${url.pathname}${url.search}` : url.href;
  }
}

/** The body fal POSTs: `{request_id, gateway_request_id, status, payload, error?, payload_error?}`. */
export function webhookBody(entry: QueueEntry, outcome: WebhookOutcome): Record<string, unknown> {
  const head = { request_id: entry.id, gateway_request_id: entry.id };
  switch (outcome.kind) {
    case "cancelled":
      return {
        ...head,
        status: "ERROR",
        error: "Request was cancelled",
        payload: { detail: "Request was cancelled" },
      };
    case "error":
      return {
        ...head,
        status: "ERROR",
        error: `Invalid status code: ${outcome.status}`,
        payload: { detail: outcome.detail },
      };
    case "ok": {
      const { contentType, body } = outcome.result;
      try {
        if (!/\bjson\b/i.test(contentType)) throw new Error("not JSON");
        return { ...head, status: "OK", payload: JSON.parse(body.toString("utf8")) };
      } catch {
        return {
          ...head,
          status: "OK",
          payload: null,
          payload_error:
            "Response payload is not JSON serializable; fetch the result from the queue (response_url) instead.",
        };
      }
    }
  }
}

/**
 * JSON laid out as Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII escaped): a receiver
 * that re-serialises a parsed body instead of verifying the raw bytes fails against the mock as it would against fal.
 */
export function pythonJson(value: unknown): string {
  const ascii = (text: string) =>
    JSON.stringify(text).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  if (value === null || typeof value !== "object") {
    return typeof value === "string" ? ascii(value) : (JSON.stringify(value) ?? "null");
  }
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  const fields = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${ascii(k)}: ${pythonJson(v)}`);
  return `{${fields.join(", ")}}`;
}
