import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { Transform } from "node:stream";
import type { RecordedFrame, RecordedRequest } from "./types.js";

const MAX_FRAMES = 1000;

interface Retained {
  bytes: number;
  release: () => void;
}

interface Waiter {
  predicate: (request: RecordedRequest) => boolean;
  resolve: (request: RecordedRequest) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Flattens Node's header object into lowercase name -> value (repeated values joined). */
export function plainHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/** Keeps the request log and wakes `waitForRequest` callers when a record settles. */
export class Recorder {
  readonly requests: RecordedRequest[] = [];
  private seq = 0;
  private readonly waiters = new Set<Waiter>();
  private retained: Retained[] = [];
  private retainedHead = 0;
  private retainedBytes = 0;

  constructor(
    private readonly bodyLimit: number,
    private readonly maxRecords: number,
    /** Total bytes of bodies and frame payloads kept; the oldest are dropped beyond it. */
    private readonly budget: number,
  ) {}

  /** Starts a record for a request whose headers just arrived. */
  create(init: {
    method: string;
    host: string;
    path: string;
    search: string;
    headers: IncomingHttpHeaders;
    websocket: boolean;
  }): RecordedRequest {
    const record: RecordedRequest = {
      seq: ++this.seq,
      at: Date.now(),
      method: init.method,
      host: init.host,
      path: init.path,
      search: init.search,
      headers: plainHeaders(init.headers),
      websocket: init.websocket,
      requestId: "",
      bodyLength: 0,
      bodySha256: "",
      complete: false,
      aborted: false,
      ...(init.websocket ? { frames: [] } : {}),
    };
    this.requests.push(record);
    // Trim in batches (a tenth of the cap) so a full log does not shift the array on every request.
    if (this.requests.length > this.maxRecords + Math.floor(this.maxRecords / 10)) {
      this.requests.splice(0, this.requests.length - this.maxRecords);
    }
    return record;
  }

  /** A pass-through stream that hashes (and, up to the limit, keeps) the body on its way to the handler. */
  tap(record: RecordedRequest): Transform {
    const hash = createHash("sha256");
    let kept: Buffer[] | undefined = [];
    const limit = this.bodyLimit;
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        hash.update(chunk);
        record.bodyLength += chunk.length;
        if (kept) {
          if (record.bodyLength > limit) kept = undefined;
          else kept.push(chunk);
        }
        callback(null, chunk);
      },
      flush: (callback) => {
        this.finishBody(record, hash.digest("hex"), kept ? Buffer.concat(kept) : undefined);
        callback();
      },
    });
  }

  /** Completes a record whose body was fully received. */
  finishBody(record: RecordedRequest, sha256: string, body: Buffer | undefined): void {
    record.bodySha256 = sha256;
    if (body) {
      record.body = body;
      const json = parseJson(body, record.headers["content-type"]);
      if (json !== undefined) record.json = json;
      this.retain(body.length, () => {
        delete record.body;
        delete record.json;
      });
    }
    record.complete = true;
    this.changed(record);
  }

  /** Appends a WebSocket frame to a record. */
  frame(record: RecordedRequest, frame: RecordedFrame): void {
    const frames = record.frames ?? [];
    frames.push(frame);
    if (frames.length > MAX_FRAMES) frames.shift();
    record.frames = frames;
    this.retain(frame.data.length, () => {
      frame.data = Buffer.alloc(0);
    });
    this.changed(record);
  }

  /** Re-evaluates waiters after `record` changed. */
  changed(record: RecordedRequest): void {
    if (!settled(record)) return;
    for (const waiter of this.waiters) {
      if (matches(waiter.predicate, record)) this.settle(waiter, record);
    }
  }

  /** Resolves with the first settled record matching `predicate`, now or later. */
  waitFor(predicate: (request: RecordedRequest) => boolean, timeoutMs = 5000): Promise<RecordedRequest> {
    const hit = this.requests.find((record) => settled(record) && matches(predicate, record));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const seen = this.requests
            .slice(-10)
            .map((r) => `${r.method} ${r.host}${r.path}${r.search} -> ${r.status ?? "pending"}`)
            .join("\n  ");
          reject(
            new Error(
              `mock-fal: no matching request within ${timeoutMs} ms; last requests:\n  ${seen || "(none)"}`,
            ),
          );
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Forgets every record (keeps the sequence counter). */
  clear(): void {
    this.requests.length = 0;
    this.retained = [];
    this.retainedHead = 0;
    this.retainedBytes = 0;
  }

  /** Rejects pending waiters (the mock is closing). */
  close(): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error("mock-fal closed while waiting for a request"));
    }
    this.waiters.clear();
  }

  /** Accounts kept bytes; past the budget, the oldest kept bodies/frames are released (FIFO). */
  private retain(bytes: number, release: () => void): void {
    if (bytes === 0) return;
    this.retained.push({ bytes, release });
    this.retainedBytes += bytes;
    while (this.retainedBytes > this.budget && this.retainedHead < this.retained.length - 1) {
      const oldest = this.retained[this.retainedHead++]!;
      oldest.release();
      this.retainedBytes -= oldest.bytes;
    }
    if (this.retainedHead > 1024 && this.retainedHead * 2 > this.retained.length) {
      this.retained = this.retained.slice(this.retainedHead);
      this.retainedHead = 0;
    }
  }

  private settle(waiter: Waiter, record: RecordedRequest): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
    waiter.resolve(record);
  }
}

function settled(record: RecordedRequest): boolean {
  return record.complete || record.aborted;
}

function matches(predicate: (request: RecordedRequest) => boolean, record: RecordedRequest): boolean {
  try {
    return predicate(record);
  } catch {
    return false;
  }
}

function parseJson(body: Buffer, contentType: string | undefined): unknown {
  if (body.length === 0) return undefined;
  if (contentType && !contentType.includes("json")) return undefined;
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** A JSON-safe view of a record for `GET /_mock/requests` (bytes as base64, bodies up to 64 KiB). */
export function serializeRecord(record: RecordedRequest): Record<string, unknown> {
  const { body, frames, ...rest } = record;
  return {
    ...rest,
    ...(body && body.length <= 65536 ? { bodyBase64: body.toString("base64") } : {}),
    ...(frames
      ? {
          frames: frames.map((f) => ({
            direction: f.direction,
            binary: f.binary,
            size: f.size,
            at: f.at,
            dataBase64: f.data.toString("base64"),
          })),
        }
      : {}),
  };
}
