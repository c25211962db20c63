import type { ServerResponse } from "node:http";
import type { FaultKind, FaultSpec, JsonValue } from "./types.js";

/** A validated fault. */
export interface Fault {
  kind: FaultKind;
  method: string | undefined;
  host: string | undefined;
  path: RegExp | undefined;
  remaining: number;
  delayMs: number;
  status: number;
  body: JsonValue | undefined;
  headers: Record<string, string>;
  afterBytes: number;
}

const KINDS: readonly FaultKind[] = ["delay", "status", "reset", "reset-during-body", "stall"];

function bad(field: string, why: string): never {
  throw new TypeError(`mock-fal fault: \`${field}\` ${why}`);
}

/** Validates a fault spec (from code or from `POST /_mock/faults`); throws a `TypeError` naming the bad field. */
export function parseFault(input: unknown): Fault {
  if (typeof input !== "object" || input === null || Array.isArray(input)) bad("spec", "must be an object");
  const spec = input as Partial<
    Record<keyof FaultSpec | "status" | "body" | "headers" | "afterBytes", unknown>
  >;
  const kind = spec.kind as FaultKind;
  if (!KINDS.includes(kind)) bad("kind", `must be one of ${KINDS.join(", ")}`);
  const optionalString = (field: "method" | "host"): string | undefined => {
    const value = spec[field];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value === "") bad(field, "must be a non-empty string");
    return value;
  };
  let path: RegExp | undefined;
  if (spec.path instanceof RegExp) path = spec.path;
  else if (typeof spec.path === "string") {
    try {
      path = new RegExp(spec.path);
    } catch {
      bad("path", "is not a valid regular expression");
    }
  } else if (spec.path !== undefined) bad("path", "must be a RegExp or a regular expression string");
  const times = spec.times ?? Number.POSITIVE_INFINITY;
  if (typeof times !== "number" || !(times >= 1) || (Number.isFinite(times) && !Number.isInteger(times))) {
    bad("times", "must be a positive integer");
  }
  const delayMs = spec.delayMs ?? 0;
  if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) bad("delayMs", "must be >= 0");
  if (kind === "delay" && delayMs === 0) bad("delayMs", "is required for kind `delay`");
  const status = spec.status ?? 0;
  if (
    kind === "status" &&
    (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599)
  ) {
    bad("status", "must be an integer between 200 and 599");
  }
  const headers = spec.headers ?? {};
  if (
    typeof headers !== "object" ||
    headers === null ||
    Object.values(headers).some((v) => typeof v !== "string")
  ) {
    bad("headers", "must be an object of strings");
  }
  const afterBytes = spec.afterBytes ?? 0;
  if (typeof afterBytes !== "number" || !Number.isInteger(afterBytes) || afterBytes < 0) {
    bad("afterBytes", "must be a non-negative integer");
  }
  return {
    kind,
    method: optionalString("method")?.toUpperCase(),
    host: optionalString("host"),
    path,
    remaining: times,
    delayMs,
    status: status as number,
    body: spec.body as JsonValue | undefined,
    headers: headers as Record<string, string>,
    afterBytes,
  };
}

/** The ordered list of active faults. */
export class FaultList {
  private faults: Fault[] = [];

  /** Adds a validated fault. */
  add(fault: Fault): void {
    this.faults.push(fault);
  }

  /** Removes every fault. */
  clear(): void {
    this.faults = [];
  }

  /** The first fault matching the request, consuming one of its `times`. */
  take(method: string, host: string, path: string): Fault | undefined {
    const fault = this.faults.find(
      (f) =>
        (f.method === undefined || f.method === method) &&
        (f.host === undefined || f.host === host) &&
        (f.path === undefined || f.path.test(path)),
    );
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault;
  }
}

type WriteCallback = (error?: Error | null) => void;

/**
 * Makes `res` cut (`reset-during-body`: close without finishing the body) or freeze (`stall`) once
 * `afterBytes` body bytes went out, whatever the route writes. A body shorter than that is cut at its end.
 */
export function armBodyFault(
  res: ServerResponse,
  kind: "reset-during-body" | "stall",
  afterBytes: number,
): void {
  const write = res.write.bind(res) as (chunk: Buffer, callback?: WriteCallback) => boolean;
  let sent = 0;
  let tripped = false;
  const trip = () => {
    if (tripped) return;
    tripped = true;
    res.flushHeaders();
    // end() (FIN after the queued bytes) rather than an RST: an RST may discard bytes the client has not read yet.
    if (kind === "reset-during-body") res.socket?.end();
  };
  const patchedWrite = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const done = [encoding, callback].find((v): v is WriteCallback => typeof v === "function");
    if (tripped) {
      if (done) queueMicrotask(() => done());
      return true;
    }
    const buffer = toBuffer(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : undefined);
    const room = afterBytes - sent;
    if (buffer.length < room) {
      sent += buffer.length;
      return write(buffer, done);
    }
    if (room > 0) write(buffer.subarray(0, room));
    sent = afterBytes;
    trip();
    if (done) queueMicrotask(() => done());
    return true;
  };
  const patchedEnd = (chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse => {
    if (chunk !== undefined && chunk !== null && typeof chunk !== "function") patchedWrite(chunk, encoding);
    trip();
    const done = [chunk, encoding, callback].find((v): v is () => void => typeof v === "function");
    if (done) queueMicrotask(done);
    return res;
  };
  Object.assign(res, { write: patchedWrite, end: patchedEnd });
}

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), encoding ?? "utf8");
}
