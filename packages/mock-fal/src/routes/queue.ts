import { imageOutput, isEcho, validateImageInput } from "../apps.js";
import {
  type AppPath,
  BodyTooLarge,
  billableHeader,
  type Ctx,
  falHeaders,
  parseAppPath,
  readBody,
  send,
  sendDetail,
  sendJson,
  sleep,
  sseEvent,
  startSse,
} from "../http.js";
import type { QueueEntry } from "../queue.js";
import { sourceOf } from "../sources.js";
import type { WebhookOutcome } from "../webhooks.js";
import { allowMethods, authorized, readInput } from "./common.js";
import { mockFailure, workflowOutput } from "./run.js";

/** `queue.fal.run`: submit, status (+ SSE stream), result and cancel. */
export async function handleQueue(ctx: Ctx): Promise<void> {
  if (!authorized(ctx)) return;
  const app = parseAppPath(ctx.url.pathname);
  if (!app) return sendDetail(ctx, 404, "Not Found");
  if (app.rest[0] !== "requests" || !app.rest[1]) return submit(ctx, app);
  const entry = ctx.mock.queue.get(app.base, app.rest[1]);
  const tail = app.rest.slice(2).join("/");
  if (tail === "cancel") {
    if (!allowMethods(ctx, "PUT")) return;
    if (!entry) return sendJson(ctx, 404, { status: "NOT_FOUND" });
    ctx.requestId = entry.id;
    const outcome = ctx.mock.queue.cancel(entry);
    if (outcome === "CANCELLATION_REQUESTED") ctx.mock.webhooks.deliverNow(entry, { kind: "cancelled" });
    return sendJson(ctx, outcome === "ALREADY_COMPLETED" ? 400 : 202, { status: outcome });
  }
  if (tail !== "" && tail !== "status" && tail !== "status/stream") return sendDetail(ctx, 404, "Not Found");
  if (!allowMethods(ctx, "GET", "HEAD")) return;
  if (!entry) return sendDetail(ctx, 404, "Request not found");
  ctx.requestId = entry.id;
  const logs = /^(1|true)$/i.test(ctx.url.searchParams.get("logs") ?? "");
  if (tail === "status") {
    const status = ctx.mock.queue.status(entry, logs);
    return sendJson(ctx, status.status === "COMPLETED" ? 200 : 202, status);
  }
  if (tail === "status/stream") return statusStream(ctx, entry, logs);
  return result(ctx, entry);
}

async function submit(ctx: Ctx, app: AppPath): Promise<void> {
  if (!allowMethods(ctx, "POST", "GET")) return;
  const webhookUrl = ctx.url.searchParams.get("fal_webhook") ?? undefined;
  let stored: QueueEntry["result"];
  let images = 0;
  let failure: QueueEntry["failure"];
  if (isEcho(app)) {
    let body: Buffer;
    try {
      body = await readBody(ctx, ctx.mock.options.jsonLimit);
    } catch (error) {
      if (!(error instanceof BodyTooLarge)) throw error;
      return sendDetail(ctx, 413, "Request entity too large");
    }
    stored = { contentType: ctx.req.headers["content-type"] ?? "application/octet-stream", body };
  } else {
    const input = await readInput(ctx);
    if (!input) return;
    const valid = validateImageInput(input.value, input.fromQuery);
    if (Array.isArray(valid)) return sendDetail(ctx, 422, valid);
    images = valid.numImages;
    if (valid.mockStatus !== undefined) {
      failure = { status: valid.mockStatus, detail: mockFailure(valid.mockStatus) };
    }
    if (app.namespace !== "workflows") valid.source = sourceOf(ctx.mock, valid.imageUrl);
    const output =
      app.namespace === "workflows"
        ? workflowOutput(ctx.mock.publicUrl, app, valid)
        : imageOutput(ctx.mock.publicUrl, app, valid, ctx.mock.options.runMs);
    stored = { contentType: "application/json", body: Buffer.from(JSON.stringify(output)) };
  }
  const units = Number(billableHeader(ctx, app, images, "queue")["x-fal-billable-units"]);
  const entry = ctx.mock.queue.submit(app.base, stored, webhookUrl, { failure, units });
  ctx.requestId = entry.id;
  ctx.mock.webhooks.schedule(entry, ctx.mock.queue.completesAt(entry), () => outcomeOf(entry));
  const { status: _status, ...urls } = ctx.mock.queue.status(entry, false);
  sendJson(ctx, 200, {
    status: "IN_QUEUE",
    request_id: entry.id,
    response_url: urls.response_url,
    status_url: urls.status_url,
    cancel_url: urls.cancel_url,
    queue_position: urls.queue_position ?? 0,
  });
}

function result(ctx: Ctx, entry: QueueEntry): void {
  if (ctx.mock.queue.phase(entry) !== "COMPLETED") sendDetail(ctx, 400, "Request is still in progress");
  else if (entry.cancelledAt !== undefined) sendDetail(ctx, 400, "Request was cancelled");
  else if (entry.failure) sendDetail(ctx, entry.failure.status, entry.failure.detail);
  else {
    send(ctx, 200, entry.result.body, {
      "content-type": entry.result.contentType,
      ...falHeaders(ctx),
      "x-fal-billable-units": String(entry.units),
    });
  }
}

/** What the webhook of a completed request reports. */
function outcomeOf(entry: QueueEntry): WebhookOutcome {
  if (entry.cancelledAt !== undefined) return { kind: "cancelled" };
  if (entry.failure) return { kind: "error", status: entry.failure.status, detail: entry.failure.detail };
  return { kind: "ok", result: entry.result };
}

/** SSE of status changes; like fal, each event carries only the log lines new since the previous one. */
async function statusStream(ctx: Ctx, entry: QueueEntry, withLogs: boolean): Promise<void> {
  const { queueMs, runMs } = ctx.mock.options;
  const tick = Math.min(50, Math.max(5, Math.min(queueMs || runMs, runMs || queueMs) / 4));
  startSse(ctx);
  let last = "";
  let sentLogs = 0;
  let sinceKeepAlive = 0;
  for (;;) {
    const status = ctx.mock.queue.status(entry, withLogs);
    const all = status.logs ?? [];
    const fresh = all.slice(sentLogs);
    const key = `${status.status}|${status.queue_position ?? ""}`;
    if (key !== last || fresh.length > 0) {
      sseEvent(ctx, "logs" in status ? { ...status, logs: withLogs ? fresh : null } : status);
      last = key;
      sentLogs = all.length;
      sinceKeepAlive = 0;
    }
    if (status.status === "COMPLETED") break;
    await sleep(tick, ctx.signal);
    sinceKeepAlive += tick;
    if (sinceKeepAlive >= ctx.mock.options.keepAliveMs) {
      ctx.res.write(": keep-alive\n\n");
      sinceKeepAlive = 0;
    }
  }
  ctx.res.end();
}
