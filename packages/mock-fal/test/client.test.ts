import { createHash, randomBytes } from "node:crypto";
import { ApiError, createFalClient, type FalClient, ValidationError } from "@fal-ai/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMockWebSocket, type MockFal, mockFalFetch, startMockFal } from "../src/index.js";

// The official client, talking to the mock directly: proves fidelity independently of falgate.

interface ImageOut {
  images: { url: string; content_type: string }[];
  prompt: string;
}

let mock: MockFal;
let fal: FalClient;
beforeAll(async () => {
  mock = await startMockFal({ queueMs: 40, runMs: 120 });
  fal = createFalClient({ credentials: mock.key, fetch: mockFalFetch(mock) });
});
afterAll(() => mock.close());

describe("@fal-ai/client 1.10.1 against the mock", () => {
  it("fal.run returns data and the request id", async () => {
    const { data, requestId } = await fal.run("fal-ai/fast-sdxl", { input: { prompt: "a cute puppy" } });
    expect((data as ImageOut).prompt).toBe("a cute puppy");
    const record = await mock.waitForRequest((r) => r.requestId === requestId);
    expect(record).toMatchObject({ host: "fal.run", path: "/fal-ai/fast-sdxl", method: "POST" });
    expect(record.headers.authorization).toBe(`Key ${mock.key}`);
  });

  it("maps a 422 to ValidationError with field errors", async () => {
    const error = await fal
      .run("fal-ai/fast-sdxl", { input: {} as { prompt: string } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).getFieldErrors("prompt")).toHaveLength(1);
  });

  it("fal.subscribe polls through IN_QUEUE/IN_PROGRESS with logs to the result", async () => {
    const updates: { status: string; logs?: { message: string }[] }[] = [];
    const { data, requestId } = await fal.subscribe("fal-ai/flux/dev", {
      input: { prompt: "queued puppy" },
      logs: true,
      pollInterval: 15,
      onQueueUpdate: (update) => updates.push(update as (typeof updates)[number]),
    });
    expect((data as ImageOut).prompt).toBe("queued puppy");
    expect(updates.at(-1)!.status).toBe("COMPLETED");
    expect(updates.at(-1)!.logs!.map((l) => l.message)).toContain("Inference complete");
    const submit = await mock.waitForRequest((r) => r.requestId === requestId && r.method === "POST");
    expect(submit).toMatchObject({ host: "queue.fal.run", path: "/fal-ai/flux/dev" });
    expect(submit.headers["x-fal-queue-priority"]).toBe("normal");
    const polls = mock.requests.filter((r) => r.path === `/fal-ai/flux/requests/${requestId}/status`);
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((r) => r.search === "?logs=1")).toBe(true);
  });

  it("fal.subscribe in streaming mode follows status/stream", async () => {
    const statuses: string[] = [];
    const { data } = await fal.subscribe("fal-ai/fast-sdxl", {
      input: { prompt: "streamed status" },
      mode: "streaming",
      logs: true,
      onQueueUpdate: (update) => statuses.push(update.status),
    });
    expect((data as ImageOut).prompt).toBe("streamed status");
    expect(statuses.at(-1)).toBe("COMPLETED");
    expect(mock.requests.some((r) => r.path.endsWith("/status/stream"))).toBe(true);
  });

  it("queue.cancel is accepted and the result then fails with an ApiError", async () => {
    const slow = await startMockFal({ queueMs: 60_000 });
    try {
      const client = createFalClient({ credentials: slow.key, fetch: mockFalFetch(slow) });
      const { request_id } = await client.queue.submit("fal-ai/fast-sdxl", { input: { prompt: "x" } });
      await client.queue.cancel("fal-ai/fast-sdxl", { requestId: request_id });
      const status = await client.queue.status("fal-ai/fast-sdxl", { requestId: request_id });
      expect(status.status).toBe("COMPLETED");
      const error = await client.queue
        .result("fal-ai/fast-sdxl", { requestId: request_id })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError<unknown>).status).toBe(400);
      const cancel = await slow.waitForRequest((r) => r.method === "PUT");
      expect(cancel.path).toBe(`/fal-ai/fast-sdxl/requests/${request_id}/cancel`);
    } finally {
      await slow.close();
    }
  });

  it("fal.stream yields partial events and done() gives the final output", async () => {
    const stream = await fal.stream("fal-ai/fast-sdxl", { input: { prompt: "stream" } });
    const events: ImageOut[] = [];
    for await (const event of stream) events.push(event as ImageOut);
    const final = (await stream.done()) as ImageOut;
    expect(events.length).toBe(4);
    expect(events[0]!.images[0]!.url).toContain("step=1");
    expect(final.images[0]!.url).not.toContain("step=");
    const record = await mock.waitForRequest((r) => r.path === "/fal-ai/fast-sdxl/stream");
    expect(record.headers.accept).toBe("application/json, text/event-stream");
  });

  it("fal.stream over a workflow gets submit/completion/output events", async () => {
    const stream = await fal.stream("workflows/fal-ai/sdxl-sticker", { input: { prompt: "sticker" } });
    const types: string[] = [];
    for await (const event of stream) types.push((event as { type: string }).type);
    expect(types).toEqual(["submit", "completion", "submit", "completion", "output"]);
    expect(await stream.done()).toMatchObject({ type: "output" });
  });

  it("fal.storage.upload stores a binary file byte-identically", async () => {
    const bytes = randomBytes(123_457);
    const url = await fal.storage.upload(new Blob([bytes], { type: "application/x-mock" }));
    const file = mock.getFile(url);
    expect(file).toMatchObject({ size: bytes.length, contentType: "application/x-mock", complete: true });
    expect(file!.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    const initiate = await mock.waitForRequest((r) => r.path === "/storage/upload/initiate");
    expect(initiate).toMatchObject({ host: "rest.fal.ai", search: "?storage_type=fal-cdn-v3" });
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("fal.realtime.connect with the default token provider gets msgpack results", async () => {
    const globals = globalThis as { WebSocket?: unknown };
    const previous = globals.WebSocket;
    globals.WebSocket = createMockWebSocket(mock);
    const warn = console.warn;
    console.warn = () => undefined; // the client warns that its default token provider is deprecated
    try {
      const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const connection = fal.realtime.connect("fal-ai/fast-lcm-diffusion", {
          throttleInterval: 0,
          onResult: (r) => {
            connection.close();
            resolve(r as Record<string, unknown>);
          },
          onError: reject,
        });
        connection.send({ prompt: "realtime puppy" });
      });
      expect(result).toMatchObject({ images: [expect.objectContaining({ content_type: "image/png" })] });
      const token = await mock.waitForRequest((r) => r.path === "/tokens/" && r.host === "rest.fal.ai");
      expect(token.json).toEqual({ allowed_apps: ["fast-lcm-diffusion"], token_expiration: 120 });
      const socket = await mock.waitForRequest((r) => r.websocket && (r.frames?.length ?? 0) >= 2);
      expect(new URLSearchParams(socket.search).get("fal_jwt_token")).toBeTruthy();
      expect(socket.frames![0]).toMatchObject({ direction: "in", binary: true });
    } finally {
      console.warn = warn;
      globals.WebSocket = previous;
    }
  });
});
