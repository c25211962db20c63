import { createHash, randomBytes } from "node:crypto";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockFal, startMockFal } from "../src/index.js";
import { falFetch, parseSse, postJson, rawRequest, sseEvents } from "./helpers.js";

const sha256 = (data: Buffer | Uint8Array) => createHash("sha256").update(data).digest("hex");

interface ImageOut {
  images: { url: string; width: number; height: number; content_type: string }[];
  seed: number;
  prompt: string;
  has_nsfw_concepts: boolean[];
  timings: { inference: number };
}

let mock: MockFal;
beforeAll(async () => {
  // Webhook delivery has its own tests (webhooks.test.ts); here a submitted fal_webhook is only recorded.
  mock = await startMockFal({ queueMs: 60, runMs: 160, webhooks: { enabled: false } });
});
afterAll(() => mock.close());

describe("auth", () => {
  it("refuses fal API calls without the key, with fal's JSON detail and a request id", async () => {
    const missing = await falFetch(mock, "fal.run", "/fal-ai/fast-sdxl", {
      method: "POST",
      body: "{}",
      auth: false,
    });
    expect(missing.status).toBe(401);
    expect(missing.headers.get("x-fal-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(await missing.json()).toEqual({ detail: expect.stringContaining("Missing authorization") });
    for (const [host, path] of [
      ["queue.fal.run", "/fal-ai/fast-sdxl"],
      ["rest.fal.ai", "/tokens/"],
      ["rest.alpha.fal.ai", "/storage/upload/initiate"],
    ] as const) {
      const wrong = await falFetch(mock, host, path, {
        method: "POST",
        body: "{}",
        headers: { authorization: "Key someone-else:secret" },
      });
      expect(wrong.status, `${host}${path}`).toBe(401);
      expect(await wrong.json()).toEqual({ detail: "Invalid credentials." });
    }
    const bearer = await falFetch(mock, "fal.run", "/fal-ai/x", {
      headers: { authorization: `Bearer ${mock.key}` },
    });
    expect(bearer.status).toBe(401);
  });

  it("serves its own CDN routes without auth", async () => {
    const res = await fetch(`${mock.url}/_cdn/images/abc.png`);
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("fal.run", () => {
  it("runs any app with a deterministic, real PNG image output", async () => {
    const res = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "a cute puppy" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-fal-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const out = (await res.json()) as ImageOut;
    expect(out).toMatchObject({
      prompt: "a cute puppy",
      has_nsfw_concepts: [false],
      timings: expect.any(Object),
    });
    expect(out.images).toHaveLength(1);
    expect(out.images[0]).toMatchObject({ width: 256, height: 256, content_type: "image/png" });
    expect(out.images[0]!.url.startsWith(`${mock.url}/_cdn/images/`)).toBe(true);

    const png = Buffer.from(await (await fetch(out.images[0]!.url)).arrayBuffer());
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.subarray(12, 16).toString("ascii")).toBe("IHDR");
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([256, 256]);

    const again = (await (
      await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "a cute puppy" })
    ).json()) as ImageOut;
    expect(again.images[0]!.url).toBe(out.images[0]!.url);
    expect(again.seed).toBe(out.seed);
    const other = (await (
      await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "a kitten" })
    ).json()) as ImageOut;
    expect(other.images[0]!.url).not.toBe(out.images[0]!.url);
    const otherPng = Buffer.from(await (await fetch(other.images[0]!.url)).arrayBuffer());
    expect(sha256(otherPng)).not.toBe(sha256(png));
  });

  it("accepts GET with the input as query, honours num_images and seed", async () => {
    const res = await falFetch(mock, "fal.run", "/fal-ai/flux/dev?prompt=hello&num_images=2&seed=7");
    expect(res.status).toBe(200);
    const out = (await res.json()) as ImageOut;
    expect(out.prompt).toBe("hello");
    expect(out.seed).toBe(7);
    expect(out.images).toHaveLength(2);
    expect(new Set(out.images.map((i) => i.url)).size).toBe(2);
  });

  it("answers 422 with pydantic-style detail for invalid input", async () => {
    const missing = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { num_images: 1 });
    expect(missing.status).toBe(422);
    expect(await missing.json()).toEqual({
      detail: [{ loc: ["body", "prompt"], msg: "Field required", type: "missing" }],
    });
    const tooMany = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "x", num_images: 9 });
    expect(await tooMany.json()).toEqual({
      detail: [
        expect.objectContaining({ loc: ["body", "num_images"], type: "less_than_equal", ctx: { le: 8 } }),
      ],
    });
    const broken = await falFetch(mock, "fal.run", "/fal-ai/fast-sdxl", {
      method: "POST",
      body: "{not json",
    });
    expect(broken.status).toBe(422);
    expect(await broken.json()).toEqual({ detail: [expect.objectContaining({ type: "json_invalid" })] });
  });

  it("serves the workflows/ and comfy/ namespaces", async () => {
    const workflow = await postJson(mock, "fal.run", "/workflows/fal-ai/sdxl-sticker", { prompt: "sticker" });
    expect(workflow.status).toBe(200);
    expect(await workflow.json()).toEqual({
      images: [expect.objectContaining({ content_type: "image/png" })],
    });
    const comfy = await postJson(mock, "fal.run", "/comfy/someone/my-graph", { prompt: "graph" });
    expect(((await comfy.json()) as ImageOut).prompt).toBe("graph");
  });

  it("echo app answers binary bodies byte-identically, and the record keeps the bytes", async () => {
    const payload = randomBytes(200_000);
    const res = await falFetch(mock, "fal.run", "/fal-ai/echo", {
      method: "POST",
      body: payload,
      headers: { "content-type": "application/x-test-binary", "x-fal-queue-priority": "low" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-test-binary");
    const back = Buffer.from(await res.arrayBuffer());
    expect(sha256(back)).toBe(sha256(payload));
    const record = await mock.waitForRequest((r) => r.path === "/fal-ai/echo" && r.method === "POST");
    expect(record).toMatchObject({
      host: "fal.run",
      bodyLength: payload.length,
      bodySha256: sha256(payload),
      complete: true,
    });
    expect(record.body?.equals(payload)).toBe(true);
    expect(record.headers["x-fal-queue-priority"]).toBe("low");
    expect(record.headers.authorization).toBe(`Key ${mock.key}`);
    expect(record.requestId).toBe(res.headers.get("x-fal-request-id"));
    expect(record.finishedAt).toBeGreaterThanOrEqual(record.at);

    const get = await falFetch(mock, "fal.run", "/someone/echo?a=1&b=two");
    expect(await get.json()).toEqual({ a: "1", b: "two" });
  });

  it("keeps only hash and size of bodies above the record limit", async () => {
    const big = randomBytes(1024 * 1024 + 10);
    await (await falFetch(mock, "fal.run", "/fal-ai/echo/big", { method: "POST", body: big })).arrayBuffer();
    const record = await mock.waitForRequest((r) => r.path === "/fal-ai/echo/big");
    expect(record.body).toBeUndefined();
    expect(record.bodyLength).toBe(big.length);
    expect(record.bodySha256).toBe(sha256(big));
  });

  it("bounds the log: maxRecords records, and recordBudget bytes of bodies (oldest emptied first)", async () => {
    const local = await startMockFal({ maxRecords: 3, recordBudget: 100_000 });
    try {
      for (let i = 0; i < 4; i++) {
        await (
          await falFetch(local, "fal.run", `/fal-ai/echo/${i}`, { method: "POST", body: randomBytes(40_000) })
        ).arrayBuffer();
      }
      await local.waitForRequest((r) => r.path === "/fal-ai/echo/3");
      expect(local.requests.map((r) => r.path)).toEqual([
        "/fal-ai/echo/1",
        "/fal-ai/echo/2",
        "/fal-ai/echo/3",
      ]);
      expect(local.requests.map((r) => r.body?.length)).toEqual([undefined, 40_000, 40_000]);
      expect(local.requests.every((r) => r.bodyLength === 40_000 && r.bodySha256.length === 64)).toBe(true);
    } finally {
      await local.close();
    }
  });

  it("answers 413 past jsonLimit and still records the whole body", async () => {
    const local = await startMockFal({ jsonLimit: 1000 });
    try {
      const body = JSON.stringify({ prompt: "x".repeat(5000) });
      const res = await falFetch(local, "fal.run", "/fal-ai/fast-sdxl", { method: "POST", body });
      expect(res.status).toBe(413);
      const record = await local.waitForRequest((r) => r.status === 413);
      expect(record).toMatchObject({ complete: true, bodyLength: body.length });
      expect((await postJson(local, "fal.run", "/fal-ai/fast-sdxl", { prompt: "ok" })).status).toBe(200);
    } finally {
      await local.close();
    }
  });

  it("records a client that vanishes mid-upload as aborted, and keeps serving", async () => {
    const local = await startMockFal();
    try {
      const init = await postJson(local, "rest.fal.ai", "/storage/upload/initiate", { file_name: "cut.bin" });
      const { upload_url, file_url } = (await init.json()) as { upload_url: string; file_url: string };
      const { request } = await import("node:http");
      const req = request(upload_url, { method: "PUT", headers: { "content-length": "100000" } });
      req.on("error", () => undefined);
      req.write(randomBytes(1000), () => req.destroy());
      const aborted = await local.waitForRequest((r) => r.method === "PUT" && r.aborted);
      expect(aborted.complete).toBe(false);
      expect(aborted.finishedAt).toBeUndefined();
      expect(local.getFile(file_url)?.complete).toBe(false);
      expect((await postJson(local, "fal.run", "/fal-ai/fast-sdxl", { prompt: "still up" })).status).toBe(
        200,
      );
    } finally {
      await local.close();
    }
  });

  it("answers 404 for an unknown host and for paths that name no app", async () => {
    expect((await falFetch(mock, "evil.example", "/fal-ai/x")).status).toBe(404);
    expect((await falFetch(mock, "fal.run", "/fal-ai")).status).toBe(404);
    expect((await falFetch(mock, "rest.fal.ai", "/admin")).status).toBe(404);
  });
});

describe("streams", () => {
  it("/stream sends partial events over time, a keep-alive comment, then the final output", async () => {
    // A long runMs keeps the stream open well past any event-loop stall of a loaded machine.
    const slow = await startMockFal({ runMs: 800 });
    try {
      await checkProgressiveStream(slow);
    } finally {
      await slow.close();
    }
  });

  async function checkProgressiveStream(mock: MockFal): Promise<void> {
    const res = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl/stream", { prompt: "progressive" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const requestId = res.headers.get("x-fal-request-id");
    const events = sseEvents(res);
    const first = (await events.next()).value as ImageOut;
    expect(first.images[0]!.url).toContain("?step=1&steps=4");
    // The first event is in our hands while the mock is still writing the stream.
    const record = mock.requests.find(
      (r) => r.requestId === requestId || r.path === "/fal-ai/fast-sdxl/stream",
    )!;
    expect(record.finishedAt).toBeUndefined();
    const rest: ImageOut[] = [];
    for await (const event of events) rest.push(event as ImageOut);
    expect(rest).toHaveLength(3);
    const final = rest.at(-1)!;
    expect(final.images[0]!.url).not.toContain("?step");
    const run = (await (
      await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "progressive" })
    ).json()) as ImageOut;
    expect(final.images).toEqual(run.images);
    expect(record.finishedAt).toBeGreaterThan(0);
  }

  it("writes a keep-alive comment on every stream", async () => {
    const res = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl/stream", { prompt: "x" });
    const { comments, events } = parseSse(await res.text());
    expect(comments).toContain(": keep-alive");
    expect(events).toHaveLength(4);
  });

  it("workflow stream emits submit, completion and output events", async () => {
    const res = await postJson(mock, "fal.run", "/workflows/fal-ai/sdxl-sticker/stream", { prompt: "puppy" });
    const { events } = parseSse(await res.text());
    const types = (events as { type: string }[]).map((e) => e.type);
    expect(types).toEqual(["submit", "completion", "submit", "completion", "output"]);
    expect(events[0]).toMatchObject({
      node_id: "text_to_image",
      app_id: "fal-ai/fast-sdxl",
      request_id: expect.any(String),
    });
    expect(events[1]).toMatchObject({ output: { images: [expect.any(Object)], prompt: "puppy" } });
    expect(events[4]).toMatchObject({
      output: { images: [expect.objectContaining({ content_type: "image/png" })] },
    });
  });

  it("workflow stream reports invalid input as an error event carrying the 422 body", async () => {
    const res = await postJson(mock, "fal.run", "/workflows/fal-ai/sdxl-sticker/stream", { num_images: 1 });
    expect(res.status).toBe(200);
    const { events } = parseSse(await res.text());
    expect((events as { type: string }[]).map((e) => e.type)).toEqual(["submit", "error"]);
    expect(events[1]).toMatchObject({
      node_id: "text_to_image",
      message: expect.stringContaining("Error while fetching the result"),
      error: { status: 422, body: { detail: [expect.objectContaining({ loc: ["body", "prompt"] })] } },
    });
  });

  it("echo/stream streams raw bytes back (a non-SSE stream)", async () => {
    const payload = randomBytes(50_000);
    const res = await falFetch(mock, "fal.run", "/fal-ai/echo/stream", { method: "POST", body: payload });
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await res.arrayBuffer()).equals(payload)).toBe(true);
  });

  it("accepts a minted fal_jwt_token instead of a key on client-mode streams", async () => {
    const token = (await (
      await postJson(mock, "rest.fal.ai", "/tokens/", { allowed_apps: ["fast-sdxl"] })
    ).json()) as string;
    const ok = await falFetch(mock, "fal.run", `/fal-ai/fast-sdxl/stream?fal_jwt_token=${token}`, {
      method: "POST",
      body: JSON.stringify({ prompt: "x" }),
      auth: false,
    });
    expect(ok.status).toBe(200);
    await ok.text();
    const otherApp = await falFetch(mock, "fal.run", `/fal-ai/flux/stream?fal_jwt_token=${token}`, {
      method: "POST",
      body: JSON.stringify({ prompt: "x" }),
      auth: false,
    });
    expect(otherApp.status).toBe(401);
  });
});

describe("queue", () => {
  it("submit answers IN_QUEUE with queue.fal.run URLs for the app (not the endpoint path) and records fal_webhook", async () => {
    const res = await postJson(
      mock,
      "queue.fal.run",
      "/fal-ai/flux/dev?fal_webhook=https%3A%2F%2Fhooks.example%2Ffal",
      {
        prompt: "queued",
      },
    );
    expect(res.status).toBe(200);
    const sub = (await res.json()) as Record<string, string>;
    const id = sub.request_id!;
    expect(res.headers.get("x-fal-request-id")).toBe(id);
    expect(sub).toMatchObject({
      status: "IN_QUEUE",
      response_url: `https://queue.fal.run/fal-ai/flux/requests/${id}`,
      status_url: `https://queue.fal.run/fal-ai/flux/requests/${id}/status`,
      cancel_url: `https://queue.fal.run/fal-ai/flux/requests/${id}/cancel`,
      queue_position: expect.any(Number),
    });
    const record = await mock.waitForRequest((r) => r.requestId === id);
    expect(new URLSearchParams(record.search).get("fal_webhook")).toBe("https://hooks.example/fal");
    expect(record.json).toEqual({ prompt: "queued" });
  });

  it("status goes IN_QUEUE -> IN_PROGRESS -> COMPLETED with 202 then 200, logs only with ?logs=1, then the result", async () => {
    // Phases long enough that the first poll surely sees a pending status, even on a loaded machine.
    const slow = await startMockFal({ queueMs: 400, runMs: 400 });
    try {
      await checkProgression(slow);
    } finally {
      await slow.close();
    }
  });

  async function checkProgression(mock: MockFal): Promise<void> {
    const sub = (await (
      await postJson(mock, "queue.fal.run", "/fal-ai/fast-sdxl", { prompt: "poll" })
    ).json()) as {
      request_id: string;
      status_url: string;
      response_url: string;
    };
    const early = await falFetch(mock, "queue.fal.run", `${new URL(sub.response_url).pathname}`);
    expect(early.status).toBe(400);
    expect(await early.json()).toEqual({ detail: "Request is still in progress" });

    const seen: { code: number; status: string; logs: unknown }[] = [];
    const statusPath = new URL(sub.status_url).pathname;
    for (;;) {
      const res = await falFetch(mock, "queue.fal.run", `${statusPath}?logs=1`);
      const body = (await res.json()) as { status: string; logs?: unknown };
      seen.push({ code: res.status, status: body.status, logs: body.logs });
      if (body.status === "COMPLETED") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const s of seen) expect(s.code).toBe(s.status === "COMPLETED" ? 200 : 202);
    const order = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"];
    const indices = seen.map((s) => order.indexOf(s.status));
    expect(indices).toEqual([...indices].sort());
    expect(seen.some((s) => s.status !== "COMPLETED")).toBe(true);
    const completed = seen.at(-1)!;
    expect(completed.logs).toEqual(
      expect.arrayContaining([expect.objectContaining({ message: "Inference complete", level: "INFO" })]),
    );
    const withoutLogs = (await (
      await falFetch(mock, "queue.fal.run", `${statusPath}?logs=0`)
    ).json()) as Record<string, unknown>;
    expect(withoutLogs).toMatchObject({
      status: "COMPLETED",
      logs: null,
      metrics: { inference_time: expect.any(Number) },
    });

    const result = await falFetch(mock, "queue.fal.run", new URL(sub.response_url).pathname);
    expect(result.status).toBe(200);
    expect(result.headers.get("x-fal-request-id")).toBe(sub.request_id);
    expect(((await result.json()) as ImageOut).prompt).toBe("poll");
  }

  it("status/stream sends each change as one SSE data line, new logs only, and closes after COMPLETED", async () => {
    const sub = (await (
      await postJson(mock, "queue.fal.run", "/fal-ai/fast-sdxl", { prompt: "sse" })
    ).json()) as {
      status_url: string;
    };
    const res = await falFetch(mock, "queue.fal.run", `${new URL(sub.status_url).pathname}/stream?logs=1`);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events: { status: string; logs?: { message: string }[] | null }[] = [];
    for await (const event of sseEvents(res)) events.push(event as (typeof events)[number]);
    expect(events.at(-1)!.status).toBe("COMPLETED");
    expect(events.filter((e) => e.status === "COMPLETED")).toHaveLength(1);
    const messages = events.flatMap((e) => e.logs ?? []).map((l) => l.message);
    expect(new Set(messages).size).toBe(messages.length); // incremental, no repeats
    expect(messages).toContain("Inference complete");
  });

  it("echo through the queue returns the submitted bytes as the result", async () => {
    const payload = randomBytes(4096);
    const sub = (await (
      await falFetch(mock, "queue.fal.run", "/fal-ai/echo", {
        method: "POST",
        body: payload,
        headers: { "content-type": "application/octet-stream" },
      })
    ).json()) as { response_url: string; status_url: string };
    const statusPath = new URL(sub.status_url).pathname;
    while ((await falFetch(mock, "queue.fal.run", statusPath)).status !== 200)
      await new Promise((r) => setTimeout(r, 20));
    const result = await falFetch(mock, "queue.fal.run", new URL(sub.response_url).pathname);
    expect(Buffer.from(await result.arrayBuffer()).equals(payload)).toBe(true);
  });

  it("cancel: CANCELLATION_REQUESTED, then an error result; ALREADY_COMPLETED; NOT_FOUND", async () => {
    const slow = await startMockFal({ queueMs: 60_000 });
    try {
      const sub = (await (
        await postJson(slow, "queue.fal.run", "/fal-ai/fast-sdxl/v2", { prompt: "c" })
      ).json()) as {
        request_id: string;
        cancel_url: string;
        status_url: string;
        response_url: string;
      };
      const cancelPath = new URL(sub.cancel_url).pathname;
      const cancel = await falFetch(slow, "queue.fal.run", cancelPath, { method: "PUT" });
      expect(cancel.status).toBe(202);
      expect(await cancel.json()).toEqual({ status: "CANCELLATION_REQUESTED" });
      const record = await slow.waitForRequest((r) => r.method === "PUT");
      expect(record.bodyLength).toBe(0);

      const status = await falFetch(slow, "queue.fal.run", new URL(sub.status_url).pathname);
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({ status: "COMPLETED", error: "Request was cancelled" });
      const result = await falFetch(slow, "queue.fal.run", new URL(sub.response_url).pathname);
      expect(result.status).toBe(400);
      expect(await result.json()).toEqual({ detail: "Request was cancelled" });

      const again = await falFetch(slow, "queue.fal.run", cancelPath, { method: "PUT" });
      expect(again.status).toBe(400);
      expect(await again.json()).toEqual({ status: "ALREADY_COMPLETED" });
      const unknown = await falFetch(slow, "queue.fal.run", "/fal-ai/fast-sdxl/requests/nope/cancel", {
        method: "PUT",
      });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ status: "NOT_FOUND" });
      const otherApp = await falFetch(
        slow,
        "queue.fal.run",
        `/fal-ai/flux/requests/${sub.request_id}/status`,
      );
      expect(otherApp.status).toBe(404);
      expect(
        (await falFetch(slow, "queue.fal.run", `/fal-ai/fast-sdxl/requests/${sub.request_id}/cancel`)).status,
      ).toBe(405);
    } finally {
      await slow.close();
    }
  });
});

describe("tokens", () => {
  it.each(["rest.fal.ai", "rest.alpha.fal.ai"])(
    "%s/tokens/ answers a signed JWT as a JSON string",
    async (host) => {
      const app = `app-${host}`;
      const res = await postJson(mock, host, "/tokens/", { allowed_apps: [app], token_expiration: 120 });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      const token = (await res.json()) as string;
      expect(typeof token).toBe("string");
      const claims = decodeJwt(token);
      expect(claims.allowed_apps).toEqual([app]);
      expect(claims.exp! - claims.iat!).toBe(120);
      expect(await mock.verifyToken(token)).toMatchObject({ allowed_apps: [app] });
      expect(await mock.verifyToken(`${token.slice(0, -4)}AAAA`)).toBeNull();
      const record = await mock.waitForRequest(
        (r) => r.host === host && r.path === "/tokens/" && JSON.stringify(r.json).includes(app),
      );
      expect(record.json).toEqual({ allowed_apps: [app], token_expiration: 120 });
    },
  );

  it("refuses a malformed token request with 422", async () => {
    const res = await postJson(mock, "rest.fal.ai", "/tokens/", { allowed_apps: [], token_expiration: -1 });
    expect(res.status).toBe(422);
    const { detail } = (await res.json()) as { detail: { loc: string[] }[] };
    expect(detail.map((d) => d.loc[1])).toEqual(["allowed_apps", "token_expiration"]);
  });
});

describe("storage", () => {
  it("initiate + PUT + GET file_url round-trips binary bytes", async () => {
    const payload = randomBytes(300_000);
    const init = await postJson(mock, "rest.fal.ai", "/storage/upload/initiate?storage_type=fal-cdn-v3", {
      content_type: "image/webp",
      file_name: "photo one.webp",
    });
    expect(init.status).toBe(200);
    const { upload_url, file_url } = (await init.json()) as { upload_url: string; file_url: string };
    expect(upload_url.startsWith(`${mock.url}/_cdn/upload/`)).toBe(true);
    expect(file_url).toMatch(new RegExp(`^${mock.url}/_cdn/files/[0-9a-f]+/photo%20one\\.webp$`));
    const put = await fetch(upload_url, {
      method: "PUT",
      body: payload,
      headers: { "content-type": "image/webp" },
    });
    expect(put.status).toBe(200);
    const got = await fetch(file_url);
    expect(got.headers.get("content-type")).toBe("image/webp");
    expect(Buffer.from(await got.arrayBuffer()).equals(payload)).toBe(true);
    expect(mock.getFile(file_url)).toMatchObject({
      size: payload.length,
      sha256: sha256(payload),
      complete: true,
    });
    const tampered = upload_url.replace(/token=[0-9a-f]+/, "token=00");
    expect((await fetch(tampered, { method: "PUT", body: "x" })).status).toBe(403);
    const upload = await mock.waitForRequest((r) => r.method === "PUT" && r.host === "mock");
    expect(upload.bodySha256).toBe(sha256(payload));
  });

  it("old client path rest.alpha.fal.ai/storage/upload/initiate works too", async () => {
    const init = await postJson(mock, "rest.alpha.fal.ai", "/storage/upload/initiate", {
      content_type: "text/plain",
      file_name: "a.txt",
    });
    const { upload_url, file_url } = (await init.json()) as { upload_url: string; file_url: string };
    await fetch(upload_url, { method: "PUT", body: "hello" });
    expect(await (await fetch(file_url)).text()).toBe("hello");
  });

  it("multipart: parts, complete, and the assembled file", async () => {
    const parts = [randomBytes(70_000), randomBytes(30_000)];
    const init = await postJson(
      mock,
      "rest.fal.ai",
      "/storage/upload/initiate-multipart?storage_type=fal-cdn-v3",
      {
        content_type: "video/mp4",
        file_name: "clip.mp4",
      },
    );
    const { upload_url, file_url } = (await init.json()) as { upload_url: string; file_url: string };
    const base = new URL(upload_url);
    const listed: { partNumber: number; etag: string }[] = [];
    for (const [i, part] of parts.entries()) {
      const res = await fetch(`${base.origin}${base.pathname}/${i + 1}${base.search}`, {
        method: "PUT",
        body: part,
      });
      listed.push((await res.json()) as { partNumber: number; etag: string });
    }
    expect(listed.map((p) => p.partNumber)).toEqual([1, 2]);
    const done = await fetch(`${base.origin}${base.pathname}/complete${base.search}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ parts: listed }),
    });
    expect(done.status).toBe(200);
    const whole = Buffer.concat(parts);
    expect(Buffer.from(await (await fetch(file_url)).arrayBuffer()).equals(whole)).toBe(true);
    expect(mock.getFile(file_url)?.sha256).toBe(sha256(whole));
  });

  it("beyond the storage cap keeps hash and size only (single PUT and in-order multipart)", async () => {
    const small = await startMockFal({ storageLimit: 1000 });
    try {
      const payload = randomBytes(5000);
      const init = await postJson(small, "rest.fal.ai", "/storage/upload/initiate", { file_name: "big.bin" });
      const { upload_url, file_url } = (await init.json()) as { upload_url: string; file_url: string };
      await fetch(upload_url, { method: "PUT", body: payload });
      expect(small.getFile(file_url)).toMatchObject({
        size: 5000,
        sha256: sha256(payload),
        bytes: undefined,
      });
      expect((await fetch(file_url)).status).toBe(410);

      const multi = (await (
        await postJson(small, "rest.fal.ai", "/storage/upload/initiate-multipart", { file_name: "m.bin" })
      ).json()) as { upload_url: string; file_url: string };
      const base = new URL(multi.upload_url);
      const parts = [randomBytes(800), randomBytes(900)];
      const listed = [];
      for (const [i, part] of parts.entries()) {
        listed.push(
          await (
            await fetch(`${base.origin}${base.pathname}/${i + 1}${base.search}`, {
              method: "PUT",
              body: part,
            })
          ).json(),
        );
      }
      await fetch(`${base.origin}${base.pathname}/complete${base.search}`, {
        method: "POST",
        body: JSON.stringify({ parts: listed }),
      });
      expect(small.getFile(multi.file_url)).toMatchObject({
        size: 1700,
        sha256: sha256(Buffer.concat(parts)),
      });
    } finally {
      await small.close();
    }
  });

  it("answers CORS preflights on the CDN so pages can upload directly", async () => {
    const res = await fetch(`${mock.url}/_cdn/upload/x`, {
      method: "OPTIONS",
      headers: {
        origin: "http://page.test",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "content-type",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-methods")).toContain("PUT");
    expect(res.headers.get("access-control-allow-headers")).toBe("content-type");
  });
});

describe("records, control routes, options", () => {
  it("records method, host, path, search and lowercase headers; waitForRequest sees future requests", async () => {
    const waiting = mock.waitForRequest((r) => r.path === "/fal-ai/later" && r.search === "?x=1");
    await falFetch(mock, "fal.run", "/fal-ai/later?x=1", { headers: { "X-Fal-Runner-Hint": "abc" } }).then(
      (r) => r.text(),
    );
    const record = await waiting;
    expect(record).toMatchObject({
      method: "GET",
      host: "fal.run",
      status: 422,
      websocket: false,
      aborted: false,
    });
    expect(record.headers["x-fal-runner-hint"]).toBe("abc");
    await expect(mock.waitForRequest((r) => r.path === "/never", 50)).rejects.toThrow(/no matching request/);
  });

  it("control routes: requests list, faults over HTTP, reset", async () => {
    const local = await startMockFal();
    try {
      await postJson(local, "fal.run", "/fal-ai/fast-sdxl", { prompt: "a" });
      const list = (await (await fetch(`${local.url}/_mock/requests`)).json()) as {
        path: string;
        json: unknown;
      }[];
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ path: "/fal-ai/fast-sdxl", json: { prompt: "a" } });

      const add = await fetch(`${local.url}/_mock/faults`, {
        method: "POST",
        body: JSON.stringify({ kind: "status", status: 503, path: "^/fal-ai/", times: 1 }),
      });
      expect(add.status).toBe(201);
      expect((await postJson(local, "fal.run", "/fal-ai/fast-sdxl", { prompt: "a" })).status).toBe(503);
      expect((await postJson(local, "fal.run", "/fal-ai/fast-sdxl", { prompt: "a" })).status).toBe(200);
      const bad = await fetch(`${local.url}/_mock/faults`, {
        method: "POST",
        body: JSON.stringify({ kind: "explode" }),
      });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({ detail: expect.stringContaining("kind") });

      await fetch(`${local.url}/_mock/faults`, {
        method: "POST",
        body: JSON.stringify([{ kind: "status", status: 500 }]),
      });
      expect((await fetch(`${local.url}/_mock/faults`, { method: "DELETE" })).status).toBe(200);
      expect((await postJson(local, "fal.run", "/fal-ai/fast-sdxl", { prompt: "a" })).status).toBe(200);

      expect((await fetch(`${local.url}/_mock/reset`, { method: "POST" })).status).toBe(200);
      expect(local.requests).toHaveLength(0);
      expect((await fetch(`${local.url}/_mock/health`)).status).toBe(200);
    } finally {
      await local.close();
    }
  });

  it("reset() clears records, queue state and files", async () => {
    const local = await startMockFal();
    try {
      const sub = (await (
        await postJson(local, "queue.fal.run", "/fal-ai/fast-sdxl", { prompt: "a" })
      ).json()) as {
        status_url: string;
      };
      const init = await postJson(local, "rest.fal.ai", "/storage/upload/initiate", { file_name: "a.txt" });
      const { upload_url, file_url } = (await init.json()) as { upload_url: string; file_url: string };
      await fetch(upload_url, { method: "PUT", body: "x" });
      local.reset();
      expect(local.requests).toHaveLength(0);
      expect(local.getFile(file_url)).toBeUndefined();
      expect((await falFetch(local, "queue.fal.run", new URL(sub.status_url).pathname)).status).toBe(404);
    } finally {
      await local.close();
    }
  });

  it("gzip option compresses JSON answers for clients that accept gzip", async () => {
    const local = await startMockFal({ gzip: true });
    try {
      const raw = await rawRequest(local, {
        method: "POST",
        host: "fal.run",
        path: "/fal-ai/fast-sdxl",
        body: JSON.stringify({ prompt: "zip" }),
        headers: { "accept-encoding": "gzip" },
      });
      expect(raw.headers?.["content-encoding"]).toBe("gzip");
      const { gunzipSync } = await import("node:zlib");
      expect(JSON.parse(gunzipSync(raw.body).toString()).prompt).toBe("zip");
      const plain = await rawRequest(local, {
        method: "POST",
        host: "fal.run",
        path: "/fal-ai/fast-sdxl",
        body: "{}",
      });
      expect(plain.headers?.["content-encoding"]).toBeUndefined();
    } finally {
      await local.close();
    }
  });

  it("validates options with a TypeError naming the option", async () => {
    await expect(startMockFal({ queueMs: -1 })).rejects.toThrow(/queueMs/);
    await expect(startMockFal({ key: "has space" })).rejects.toThrow(/key/);
    await expect(startMockFal({ jwtSecret: "short" })).rejects.toThrow(/jwtSecret/);
  });
});
