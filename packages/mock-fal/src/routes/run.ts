import { randomUUID } from "node:crypto";
import { pipeline } from "node:stream/promises";
import {
  type FieldError,
  type ImageInput,
  type ImageOutput,
  imageOutput,
  isEcho,
  validateImageInput,
} from "../apps.js";
import {
  type AppPath,
  billableHeader,
  type Ctx,
  falHeaders,
  parseAppPath,
  sendDetail,
  sendJson,
  sleep,
  sseEvent,
  sseWait,
  startSse,
} from "../http.js";
import { sourceOf } from "../sources.js";
import { tokenAllows } from "../tokens.js";
import { allowMethods, authorized, readInput } from "./common.js";

/** Partial events a `/stream` answer sends before the final one. */
export const STREAM_PARTIALS = 3;

/** `fal.run`: sync runs (POST, or GET with the input as query), `/stream` SSE and the echo app. */
export async function handleRun(ctx: Ctx): Promise<void> {
  const app = parseAppPath(ctx.url.pathname);
  if (!app) return sendDetail(ctx, 404, "Not Found");
  const stream = app.rest.at(-1) === "stream";
  if (!(await streamTokenAccepted(ctx, app, stream)) && !authorized(ctx)) return;
  if (!allowMethods(ctx, "GET", "POST")) return;
  if (isEcho(app)) {
    const units = billableHeader(ctx, app, 0, stream ? "stream" : "run");
    return stream ? echo(ctx, units, "application/octet-stream") : echo(ctx, units);
  }
  const input = await readInput(ctx);
  if (!input) return;
  if (app.namespace === "workflows" && stream) return workflowStream(ctx, app, input.value);
  const valid = validateImageInput(input.value, input.fromQuery);
  if (Array.isArray(valid)) return sendDetail(ctx, 422, valid);
  if (valid.mockStatus !== undefined) return sendDetail(ctx, valid.mockStatus, mockFailure(valid.mockStatus));
  if (app.namespace !== "workflows") valid.source = sourceOf(ctx.mock, valid.imageUrl);
  if (stream) return imageStream(ctx, app, valid);
  await sleep(ctx.mock.options.syncRunMs, ctx.signal);
  const output =
    app.namespace === "workflows"
      ? workflowOutput(ctx.mock.publicUrl, app, valid)
      : imageOutput(ctx.mock.publicUrl, app, valid, ctx.mock.options.syncRunMs);
  sendJson(ctx, 200, output, billableHeader(ctx, app, valid.numImages, "run"));
}

/** The `detail` of a run failed on purpose with `mock_status`. */
export function mockFailure(status: number): string {
  return `Mock failure (mock_status ${status})`;
}

/** Client-mode streams authenticate with `?fal_jwt_token=` instead of a key (checked only without a key header). */
async function streamTokenAccepted(ctx: Ctx, app: AppPath, stream: boolean): Promise<boolean> {
  const token = ctx.url.searchParams.get("fal_jwt_token");
  if (!stream || !token || ctx.req.headers.authorization) return false;
  const claims = await ctx.mock.tokens.verify(token);
  return claims !== null && tokenAllows(claims, app.owner, app.alias);
}

/** Echo: POST answers the body bytes unchanged (streamed, same content type); GET answers the query as JSON. */
async function echo(ctx: Ctx, units: Record<string, string>, contentType?: string): Promise<void> {
  if (ctx.method === "GET") return sendJson(ctx, 200, Object.fromEntries(ctx.url.searchParams), units);
  const length = ctx.req.headers["content-length"];
  ctx.res.writeHead(200, {
    "content-type": contentType ?? ctx.req.headers["content-type"] ?? "application/octet-stream",
    ...(length !== undefined && ctx.req.headers["transfer-encoding"] === undefined
      ? { "content-length": length }
      : {}),
    ...falHeaders(ctx),
    ...units,
  });
  ctx.res.flushHeaders();
  await pipeline(ctx.body, ctx.res).catch(() => undefined);
}

/** Image app stream: progressively sharper partial outputs over `runMs`, then the final output. */
async function imageStream(ctx: Ctx, app: AppPath, input: ImageInput): Promise<void> {
  const { runMs } = ctx.mock.options;
  const steps = STREAM_PARTIALS + 1;
  const interval = runMs / steps;
  // Known before the first byte here (the mock's units are deterministic); whether fal sends it on streams is unverified.
  startSse(ctx, billableHeader(ctx, app, input.numImages, "stream"));
  for (let step = 1; step <= STREAM_PARTIALS; step++) {
    if (step > 1) await sseWait(ctx, interval);
    sseEvent(ctx, imageOutput(ctx.mock.publicUrl, app, input, interval * step, { step, steps }));
  }
  await sseWait(ctx, interval);
  sseEvent(ctx, imageOutput(ctx.mock.publicUrl, app, input, runMs));
  ctx.res.end();
}

const NODES = [
  { node_id: "text_to_image", app_id: "fal-ai/fast-sdxl" },
  { node_id: "upscale", app_id: "fal-ai/esrgan" },
] as const;

/** The final output of a workflow (the `output` event's payload). */
export function workflowOutput(
  baseUrl: string,
  app: AppPath,
  input: ImageInput,
): { images: ImageOutput["images"] } {
  return { images: imageOutput(baseUrl, app, input, 0).images };
}

/** Workflow stream (seed 000): `submit`/`completion` per node, then `output`; invalid input ends with `error`. */
async function workflowStream(ctx: Ctx, app: AppPath, raw: unknown): Promise<void> {
  const valid = validateImageInput(raw);
  const interval = ctx.mock.options.runMs / (NODES.length * 2 + 1);
  startSse(ctx, Array.isArray(valid) ? {} : billableHeader(ctx, app, valid.numImages, "stream"));
  for (const [index, node] of NODES.entries()) {
    const requestId = randomUUID();
    if (index > 0) await sseWait(ctx, interval);
    sseEvent(ctx, { type: "submit", node_id: node.node_id, app_id: node.app_id, request_id: requestId });
    await sseWait(ctx, interval);
    if (Array.isArray(valid)) {
      sseEvent(ctx, workflowError(node.node_id, requestId, valid));
      return void ctx.res.end();
    }
    const output =
      index === 0
        ? imageOutput(ctx.mock.publicUrl, app, valid, interval)
        : {
            image: workflowOutput(ctx.mock.publicUrl, app, valid).images[0],
            timings: { inference: interval / 1000 },
          };
    sseEvent(ctx, { type: "completion", node_id: node.node_id, app_id: node.app_id, output });
  }
  await sseWait(ctx, interval);
  if (Array.isArray(valid)) return void ctx.res.end();
  sseEvent(ctx, { type: "output", output: workflowOutput(ctx.mock.publicUrl, app, valid) });
  ctx.res.end();
}

function workflowError(nodeId: string, requestId: string, detail: FieldError[]): Record<string, unknown> {
  return {
    type: "error",
    node_id: nodeId,
    message: `Error while fetching the result of the request ${requestId}`,
    error: { status: 422, body: { detail } },
  };
}
