import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import type { MockState } from "./state.js";
import type { RecordedRequest } from "./types.js";

/** One HTTP exchange as the routes see it. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Path and query as received (parsed against a dummy origin). */
  url: URL;
  host: string;
  record: RecordedRequest;
  /** The `x-fal-request-id` of the answer (routes may replace it, e.g. with a queue request id). */
  requestId: string;
  /** The request body, hashed and recorded on its way through. */
  body: Readable;
  /** Aborted when the exchange ends early or the mock closes. */
  signal: AbortSignal;
  mock: MockState;
}

/** Thrown by {@link readBody} past the size limit. */
export class BodyTooLarge extends Error {}

/** Reads the whole body, up to `limit` bytes; past it, rejects but keeps draining so the record completes. */
export function readBody(ctx: Ctx, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const body = ctx.body;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      chunks.length = 0;
      reject(error);
    };
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (settled) return;
      if (size > limit) fail(new BodyTooLarge(`body over ${limit} bytes`));
      else chunks.push(chunk);
    });
    body.once("end", () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks));
    });
    body.once("error", fail);
    body.once("close", () => {
      if (!settled) fail(new Error("request aborted"));
    });
  });
}

/** Headers fal puts on every API answer. */
export function falHeaders(ctx: Ctx): Record<string, string> {
  return ctx.requestId ? { "x-fal-request-id": ctx.requestId } : {};
}

/** Answers JSON (gzipped when enabled and accepted). */
export function sendJson(
  ctx: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  let payload = Buffer.from(JSON.stringify(body));
  const extra: Record<string, string> = {};
  if (ctx.mock.options.gzip && /\bgzip\b/.test(String(ctx.req.headers["accept-encoding"] ?? ""))) {
    payload = gzipSync(payload);
    extra["content-encoding"] = "gzip";
    extra.vary = "accept-encoding";
  }
  send(ctx, status, payload, {
    "content-type": "application/json",
    ...extra,
    ...falHeaders(ctx),
    ...headers,
  });
}

/** Answers a FastAPI-style error `{detail}`. */
export function sendDetail(
  ctx: Ctx,
  status: number,
  detail: unknown,
  headers: Record<string, string> = {},
): void {
  sendJson(ctx, status, { detail }, headers);
}

/** Answers raw bytes. */
export function send(
  ctx: Ctx,
  status: number,
  payload: Buffer | string,
  headers: Record<string, string>,
): void {
  const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
  ctx.res.writeHead(status, { ...headers, "content-length": String(bytes.length) });
  ctx.res.end(ctx.method === "HEAD" ? undefined : bytes);
}

/** Starts a `text/event-stream` answer and sends the first keep-alive comment right away. */
export function startSse(ctx: Ctx, headers: Record<string, string> = {}): void {
  ctx.res.socket?.setNoDelay(true);
  ctx.res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    ...falHeaders(ctx),
    ...headers,
  });
  ctx.res.write(": keep-alive\n\n");
}

/** Writes one SSE event (a single `data:` line of JSON). */
export function sseEvent(ctx: Ctx, data: unknown): void {
  ctx.res.write(`data: ${JSON.stringify(data)}\n\n`);
}

/** Waits `ms`, sending keep-alive comments every `keepAliveMs`; rejects when `signal` aborts. */
export async function sseWait(ctx: Ctx, ms: number): Promise<void> {
  const every = ctx.mock.options.keepAliveMs;
  let left = ms;
  while (left > every) {
    await delay(every, undefined, { signal: ctx.signal });
    ctx.res.write(": keep-alive\n\n");
    left -= every;
  }
  if (left > 0) await delay(left, undefined, { signal: ctx.signal });
}

/** `setTimeout` as a promise that rejects when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return ms > 0 ? delay(ms, undefined, { signal }) : Promise.resolve();
}

/** A fal endpoint id split as the clients do (`workflows/` and `comfy/` namespaces prefix the owner). */
export interface AppPath {
  namespace: string | undefined;
  owner: string;
  alias: string;
  /** Segments after the alias (endpoint path, `stream`, `requests/...`). */
  rest: string[];
  /** `[namespace/]owner/alias` */
  base: string;
}

/** `[namespace/]owner/alias[/path]` of a call, without a trailing `/stream` (the key of `billableUnits`). */
export function endpointOf(app: AppPath): string {
  const path = app.rest.at(-1) === "stream" ? app.rest.slice(0, -1) : app.rest;
  return [app.base, ...path].join("/");
}

/** The `x-fal-billable-units` header of a call. */
export function billableHeader(
  ctx: Ctx,
  app: AppPath,
  images: number,
  mode: "run" | "stream" | "queue",
): Record<string, string> {
  const units = ctx.mock.options.billableUnits({ endpoint: endpointOf(app), app: app.base, images, mode });
  return { "x-fal-billable-units": String(units) };
}

/** Splits a request path into an app id; `undefined` when it names no app. */
export function parseAppPath(pathname: string): AppPath | undefined {
  const segments = pathname.split("/").filter((s) => s !== "");
  const namespace = segments[0] === "workflows" || segments[0] === "comfy" ? segments[0] : undefined;
  const offset = namespace ? 1 : 0;
  const owner = segments[offset];
  const alias = segments[offset + 1];
  if (!owner || !alias) return undefined;
  return {
    namespace,
    owner,
    alias,
    rest: segments.slice(offset + 2),
    base: `${namespace ? `${namespace}/` : ""}${owner}/${alias}`,
  };
}
