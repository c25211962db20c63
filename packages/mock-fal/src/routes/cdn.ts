import type { FileEntry } from "../files.js";
import { BodyTooLarge, type Ctx, readBody, send, sendDetail, sendJson } from "../http.js";
import { imagePng } from "../sources.js";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, PUT, POST, OPTIONS",
  "access-control-expose-headers": "etag, content-length",
};

/** The mock's CDN (`/_cdn/*`, no auth, CORS `*` so pages can upload and draw): images, uploads, files. */
export async function handleCdn(ctx: Ctx): Promise<void> {
  const segments = ctx.url.pathname.split("/").slice(2); // ["images", "x.png"], ...
  if (ctx.method === "OPTIONS") {
    return send(ctx, 204, "", {
      ...CORS,
      "access-control-allow-headers": ctx.req.headers["access-control-request-headers"] ?? "*",
      "access-control-max-age": "600",
    });
  }
  const [kind, id, extra] = segments;
  const token = ctx.url.searchParams.get("token");
  if (kind === "images" && id && segments.length === 2) return image(ctx, id);
  if (kind === "files" && id) return file(ctx, id);
  if (kind === "upload" && id && segments.length === 2) {
    const entry = ctx.mock.files.get(id, token);
    if (!entry || entry.multipart) return sendDetail(ctx, 403, "Invalid upload URL", CORS);
    if (ctx.method !== "PUT") return sendDetail(ctx, 405, "Method Not Allowed", CORS);
    await ctx.mock.files.receive(entry, ctx.body);
    return send(ctx, 200, "", CORS);
  }
  if (kind === "multipart" && id && extra && segments.length === 3) {
    const entry = ctx.mock.files.get(id, token);
    if (!entry?.multipart) return sendDetail(ctx, 403, "Invalid upload URL", CORS);
    return extra === "complete" ? complete(ctx, entry) : part(ctx, entry, extra);
  }
  sendDetail(ctx, 404, "Not Found", CORS);
}

function image(ctx: Ctx, name: string): void {
  const match = /^([A-Za-z0-9_-]{1,128})\.png$/.exec(name);
  if (!match) sendDetail(ctx, 404, "Not Found", CORS);
  else if (ctx.method !== "GET" && ctx.method !== "HEAD") sendDetail(ctx, 405, "Method Not Allowed", CORS);
  else sendPng(ctx, match[1]!);
}

function sendPng(ctx: Ctx, id: string): void {
  const step = Number(ctx.url.searchParams.get("step"));
  const steps = Number(ctx.url.searchParams.get("steps"));
  const progressive = Number.isInteger(step) && Number.isInteger(steps) && step > 0 && steps > step;
  const png = progressive ? imagePng(ctx.mock, id, step, steps) : imagePng(ctx.mock, id);
  send(ctx, 200, png, { ...CORS, "content-type": "image/png", "cache-control": "public, max-age=86400" });
}

function file(ctx: Ctx, id: string): void {
  const stored = ctx.mock.files.lookup(id);
  if (ctx.method !== "GET" && ctx.method !== "HEAD") sendDetail(ctx, 405, "Method Not Allowed", CORS);
  else if (!stored) sendDetail(ctx, 404, "File not found", CORS);
  else if (!stored.complete) sendDetail(ctx, 409, "Upload not complete", CORS);
  else if (!stored.bytes)
    sendDetail(ctx, 410, "File was over the mock's storage cap; only its hash was kept", CORS);
  else
    send(ctx, 200, stored.bytes, { ...CORS, "content-type": stored.contentType, etag: `"${stored.sha256}"` });
}

async function part(ctx: Ctx, entry: FileEntry, number: string): Promise<void> {
  const partNumber = Number(number);
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
    return sendDetail(ctx, 404, "Not Found", CORS);
  }
  if (ctx.method !== "PUT") return sendDetail(ctx, 405, "Method Not Allowed", CORS);
  const received = await ctx.mock.files.receivePart(entry, partNumber, ctx.body);
  sendJson(ctx, 200, { partNumber, etag: received.etag }, { ...CORS, etag: received.etag });
}

async function complete(ctx: Ctx, entry: FileEntry): Promise<void> {
  if (ctx.method !== "POST") return sendDetail(ctx, 405, "Method Not Allowed", CORS);
  let parsed: unknown;
  try {
    parsed = JSON.parse((await readBody(ctx, ctx.mock.options.jsonLimit)).toString("utf8"));
  } catch (error) {
    if (error instanceof BodyTooLarge) return sendDetail(ctx, 413, "Request entity too large", CORS);
    return sendDetail(ctx, 400, "Body must be JSON {parts: [{partNumber, etag}]}", CORS);
  }
  const parts = (parsed as { parts?: unknown } | null)?.parts;
  const valid =
    Array.isArray(parts) &&
    parts.length > 0 &&
    parts.every(
      (p: unknown) =>
        typeof p === "object" &&
        p !== null &&
        Number.isInteger((p as { partNumber?: unknown }).partNumber) &&
        typeof (p as { etag?: unknown }).etag === "string",
    );
  if (!valid) return sendDetail(ctx, 400, "Body must be JSON {parts: [{partNumber, etag}]}", CORS);
  const stored = ctx.mock.files.complete(entry, parts as { partNumber: number; etag: string }[]);
  if (!stored) return sendDetail(ctx, 400, "Parts do not match the uploaded parts", CORS);
  sendJson(ctx, 200, { file_url: stored.url }, CORS);
}
