import { randomUUID } from "node:crypto";
import { type LogLine, logsAt } from "./apps.js";

const MAX_ENTRIES = 10_000;

/** A queued request; its status is derived from the clock, so no timer runs per request. */
export interface QueueEntry {
  id: string;
  /** `[namespace/]owner/alias`: queue URLs never carry the endpoint path. */
  base: string;
  submittedAt: number;
  cancelledAt: number | undefined;
  /** `?fal_webhook=` of the submit, if any. */
  webhookUrl: string | undefined;
  /** The answer `GET .../requests/{id}` gives once completed. */
  result: { contentType: string; body: Buffer };
  /** Set when the run fails (input `mock_status`): the result answers this status with `{detail}`. */
  failure: { status: number; detail: string } | undefined;
  /** `x-fal-billable-units` of the result. */
  units: number;
}

/** A status snapshot as fal's queue reports it. */
export interface QueueStatus {
  status: "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED";
  request_id: string;
  response_url: string;
  status_url: string;
  cancel_url: string;
  queue_position?: number;
  logs?: LogLine[] | null;
  metrics?: { inference_time?: number };
  error?: string;
  error_type?: string;
}

/** The queue state of one mock. */
export class QueueStore {
  private readonly entries = new Map<string, QueueEntry>();

  constructor(
    private readonly queueMs: number,
    private readonly runMs: number,
  ) {}

  /** Enqueues a request whose result is already known. */
  submit(
    base: string,
    result: QueueEntry["result"],
    webhookUrl: string | undefined,
    extra: Pick<QueueEntry, "failure" | "units">,
  ): QueueEntry {
    const entry: QueueEntry = {
      id: randomUUID(),
      base,
      submittedAt: Date.now(),
      cancelledAt: undefined,
      webhookUrl,
      result,
      ...extra,
    };
    this.entries.set(entry.id, entry);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    return entry;
  }

  /** The entry for `id` under app `base`. */
  get(base: string, id: string): QueueEntry | undefined {
    const entry = this.entries.get(id);
    return entry && entry.base === base ? entry : undefined;
  }

  /** Cancels a pending request (the mock app stops at once). */
  cancel(entry: QueueEntry): "CANCELLATION_REQUESTED" | "ALREADY_COMPLETED" {
    if (this.phase(entry) === "COMPLETED") return "ALREADY_COMPLETED";
    entry.cancelledAt = Date.now();
    return "CANCELLATION_REQUESTED";
  }

  /** When a request that is not cancelled completes (`Date.now()` time). */
  completesAt(entry: QueueEntry): number {
    return entry.submittedAt + this.queueMs + this.runMs;
  }

  /** The phase of a request now. */
  phase(entry: QueueEntry, now = Date.now()): QueueStatus["status"] {
    if (entry.cancelledAt !== undefined) return "COMPLETED";
    const elapsed = now - entry.submittedAt;
    if (elapsed < this.queueMs) return "IN_QUEUE";
    if (elapsed < this.queueMs + this.runMs) return "IN_PROGRESS";
    return "COMPLETED";
  }

  /** The status document at `now`; `logs` as in `?logs=1` (the whole log so far). */
  status(entry: QueueEntry, withLogs: boolean, now = Date.now()): QueueStatus {
    const base = `https://queue.fal.run/${entry.base}/requests/${entry.id}`;
    const head = {
      request_id: entry.id,
      response_url: base,
      status_url: `${base}/status`,
      cancel_url: `${base}/cancel`,
    };
    const phase = this.phase(entry, now);
    const elapsed = now - entry.submittedAt;
    if (phase === "IN_QUEUE") {
      const left = this.queueMs - elapsed;
      return {
        status: phase,
        ...head,
        queue_position: Math.max(0, Math.ceil((left / this.queueMs) * 3) - 1),
      };
    }
    const startedAt = entry.submittedAt + this.queueMs;
    if (phase === "IN_PROGRESS") {
      return {
        status: phase,
        ...head,
        logs: withLogs ? logsAt(startedAt, elapsed - this.queueMs, this.runMs, false) : null,
      };
    }
    if (entry.cancelledAt !== undefined) {
      const ranMs = Math.max(0, entry.cancelledAt - startedAt);
      return {
        status: phase,
        ...head,
        logs: withLogs ? logsAt(startedAt, ranMs, this.runMs, false).filter(() => ranMs > 0) : null,
        metrics: {},
        error: "Request was cancelled",
        error_type: "request_cancelled",
      };
    }
    return {
      status: phase,
      ...head,
      logs: withLogs ? logsAt(startedAt, this.runMs, this.runMs, true) : null,
      metrics: { inference_time: this.runMs / 1000 },
      ...(entry.failure ? { error: `Invalid status code: ${entry.failure.status}` } : {}),
    };
  }

  /** Forgets every request. */
  clear(): void {
    this.entries.clear();
  }
}
