import { createHash, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { createFalClient, type FalClient, type QueueStatus, ValidationError } from "@fal-ai/client";
import type { Logger } from "@falgate/core";
import { type MockFal, type RecordedRequest, startMockFal } from "@falgate/mock-fal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../src/index.js";
import { deferred } from "./helpers.js";

// The real clients from npm, through the standalone server, to the fal mock over loopback.
const silent: Logger = { warn: () => undefined, error: () => undefined };
const BROWSER_KEY = "browser-held-key-must-not-pass";

let mock: MockFal;
let server: RunningServer;
let proxyUrl: string;
let fal: FalClient;

beforeAll(async () => {
  // Generous queue and run phases so every state is observable on a loaded machine.
  mock = await startMockFal({ port: 0, queueMs: 1500, runMs: 600 });
  server = await startServer({
    port: 0,
    upstream: mock.url,
    credentials: mock.key,
    allowUnauthenticated: true,
    logger: silent,
  });
  proxyUrl = `${server.url}/api/fal/proxy`;
  fal = createFalClient({
    proxyUrl: { url: proxyUrl, when: "always" },
    // What a careless browser app might send along: neither may reach fal.
    credentials: BROWSER_KEY,
    requestMiddleware: async (request) => ({
      ...request,
      headers: { ...request.headers, cookie: "session=browser" },
    }),
  });
});

afterAll(async () => {
  await server?.close();
  await mock?.close();
});

/** The newest recorded request matching `path` (and method), once complete. */
function recorded(path: string | RegExp, method?: string): Promise<RecordedRequest> {
  const matches = (r: RecordedRequest) =>
    (typeof path === "string" ? r.path === path : path.test(r.path)) && (!method || r.method === method);
  const newest = [...mock.requests].reverse().find(matches);
  return newest ? mock.waitForRequest((r) => r === newest) : mock.waitForRequest(matches);
}

/** What falgate must guarantee on every forwarded call. */
function expectForwardedSafely(request: RecordedRequest) {
  expect(request.headers.authorization).toBe(`Key ${mock.key}`);
  expect(request.headers.cookie).toBeUndefined();
  expect(JSON.stringify(request.headers)).not.toContain(BROWSER_KEY);
}

describe("@fal-ai/client 1.10.1 through falgate", () => {
  it("fal.run", async () => {
    const input = { prompt: "a red fox in the snow", seed: 42 };
    const result = await fal.run("fal-ai/fast-sdxl", { input });
    const data = result.data as { images: Array<{ url: string }>; prompt: string };
    expect(data.prompt).toBe(input.prompt);
    expect(data.images[0]?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_cdn\//);
    expect(result.requestId).toBeTruthy();
    const request = await recorded("/fal-ai/fast-sdxl", "POST");
    expect(request.host).toBe("fal.run");
    expect(request.json).toEqual(input);
    expectForwardedSafely(request);
  });

  it("passes upstream validation errors through as ValidationError", async () => {
    const error = await fal.run("fal-ai/fast-sdxl", { input: { prompt: "" } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).status).toBe(422);
    expect((error as ValidationError).fieldErrors[0]?.loc).toEqual(["body", "prompt"]);
  });

  it("fal.subscribe with logs sees IN_QUEUE, IN_PROGRESS and COMPLETED", async () => {
    const updates: QueueStatus[] = [];
    const result = await fal.subscribe("fal-ai/fast-sdxl", {
      input: { prompt: "a lighthouse" },
      logs: true,
      mode: "streaming",
      onQueueUpdate: (update) => updates.push(update),
    });
    expect((result.data as { prompt: string }).prompt).toBe("a lighthouse");
    const statuses = [...new Set(updates.map((u) => u.status))];
    expect(statuses).toEqual(["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]);
    const completed = updates.find((u) => u.status === "COMPLETED");
    expect(completed && "logs" in completed && completed.logs.length).toBeGreaterThan(0);
    const submit = await recorded("/fal-ai/fast-sdxl", "POST");
    expect(submit.host).toBe("queue.fal.run");
    expectForwardedSafely(submit);
    expectForwardedSafely(await recorded(/\/requests\/[^/]+\/status\/stream$/));
  });

  it("queue.submit / status / streamStatus / result / cancel", async () => {
    const { request_id: requestId } = await fal.queue.submit("fal-ai/fast-sdxl", {
      input: { prompt: "queued" },
    });
    expect(requestId).toBeTruthy();
    const first = await fal.queue.status("fal-ai/fast-sdxl", { requestId, logs: true });
    expect(["IN_QUEUE", "IN_PROGRESS"]).toContain(first.status);

    const stream = await fal.queue.streamStatus("fal-ai/fast-sdxl", { requestId, logs: true });
    const seen: string[] = [];
    for await (const event of stream) seen.push(event.status);
    expect(seen.at(-1)).toBe("COMPLETED");

    const done = await fal.queue.status("fal-ai/fast-sdxl", { requestId });
    expect(done.status).toBe("COMPLETED");
    const result = await fal.queue.result("fal-ai/fast-sdxl", { requestId });
    expect((result.data as { prompt: string }).prompt).toBe("queued");
    expect(result.requestId).toBe(requestId);

    const other = await fal.queue.submit("fal-ai/fast-sdxl", { input: { prompt: "to cancel" } });
    await fal.queue.cancel("fal-ai/fast-sdxl", { requestId: other.request_id });
    const cancel = await recorded(`/fal-ai/fast-sdxl/requests/${other.request_id}/cancel`, "PUT");
    expect(cancel.status).toBeLessThan(300);
    expect(cancel.bodyLength).toBe(0);
    expectForwardedSafely(cancel);
    expectForwardedSafely(await recorded(`/fal-ai/fast-sdxl/requests/${requestId}`, "GET"));
  });

  it("fal.stream delivers partial events, then the final output", async () => {
    const stream = await fal.stream("fal-ai/fast-sdxl", { input: { prompt: "streamed" } });
    const events: unknown[] = [];
    for await (const event of stream) events.push(event);
    const output = (await stream.done()) as { prompt: string };
    expect(events.length).toBeGreaterThan(1);
    expect(output.prompt).toBe("streamed");
    const request = await recorded("/fal-ai/fast-sdxl/stream", "POST");
    expect(request.headers.accept).toContain("text/event-stream");
    expectForwardedSafely(request);
  });

  it("a workflow stream carries submit, completion and output events", async () => {
    const stream = await fal.stream("workflows/fal-ai/sdxl-pipeline", { input: { prompt: "workflow" } });
    const types: string[] = [];
    for await (const event of stream) types.push((event as { type: string }).type);
    expect(types).toContain("submit");
    expect(types).toContain("completion");
    expect(types.at(-1)).toBe("output");
    expectForwardedSafely(await recorded("/workflows/fal-ai/sdxl-pipeline/stream", "POST"));
  });

  it("the first SSE event reaches the client before upstream finished, and an abort reaches upstream", async () => {
    const input = { prompt: "stalled", seed: 7 };
    // The mock's stream is deterministic for a fixed input: measure where its first event ends...
    const probe = await fetch(proxyUrl, {
      method: "POST",
      headers: {
        "x-fal-target-url": "https://fal.run/fal-ai/flux/dev/stream",
        "content-type": "application/json",
      },
      body: JSON.stringify(input),
    });
    const raw = Buffer.from(await probe.arrayBuffer()).toString("latin1");
    const firstEventEnd = raw.indexOf("\n\n", raw.indexOf("data:")) + 2;
    expect(firstEventEnd).toBeGreaterThan(2);
    // ...then make the mock stall right there: whatever the client gets can only have been relayed as it came.
    mock.fault({ kind: "stall", path: /^\/fal-ai\/flux\/dev\/stream$/, afterBytes: firstEventEnd, times: 1 });
    const stream = await fal.stream("fal-ai/flux/dev", { input });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect((first.value as { prompt: string }).prompt).toBe("stalled");
    const upstream = [...mock.requests].reverse().find((r) => r.path === "/fal-ai/flux/dev/stream");
    expect(upstream?.fault).toBe("stall");
    expect(upstream?.finishedAt).toBeUndefined();
    stream.abort();
    const aborted = await mock.waitForRequest((r) => r === upstream && r.aborted, 10_000);
    expect(aborted.aborted).toBe(true);
  });

  it("fal.storage.upload of a binary Blob arrives byte-identical", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const url = await fal.storage.upload(new Blob([bytes], { type: "application/octet-stream" }));
    const file = mock.getFile(url);
    expect(file?.complete).toBe(true);
    expect(file?.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    const initiate = await recorded("/storage/upload/initiate", "POST");
    expect(initiate.host).toBe("rest.fal.ai");
    expect(initiate.search).toContain("storage_type=fal-cdn-v3");
    expectForwardedSafely(initiate);
  });

  it("the default realtime token provider fetches its token through the proxy", async () => {
    const opened = deferred<string>();
    const original = (globalThis as { WebSocket?: unknown }).WebSocket;
    // Only the token fetch goes through the proxy; the socket itself is direct, so stub it and read its URL.
    class RecordingWebSocket {
      static readonly OPEN = 1;
      readyState = 0;
      constructor(url: string) {
        opened.resolve(url);
      }
      send() {}
      close() {}
    }
    (globalThis as { WebSocket?: unknown }).WebSocket = RecordingWebSocket;
    try {
      const connection = fal.realtime.connect("fal-ai/fast-sdxl", {
        onResult: () => undefined,
        onError: () => undefined,
      });
      connection.send({ prompt: "realtime" });
      const url = new URL(await opened.promise);
      connection.close();
      expect(url.host).toBe("fal.run");
      const token = url.searchParams.get("fal_jwt_token") ?? "";
      const claims = await mock.verifyToken(token);
      expect(claims?.allowed_apps).toEqual(["fast-sdxl"]);
      const request = await recorded("/tokens/", "POST");
      expect(request.host).toBe("rest.fal.ai");
      expectForwardedSafely(request);
    } finally {
      (globalThis as { WebSocket?: unknown }).WebSocket = original;
    }
  });
});

describe("@fal-ai/serverless-client 0.15.0 through falgate", () => {
  it("fal.run and fal.subscribe with the older client", async () => {
    const require = createRequire(import.meta.url);
    const legacy = require("@fal-ai/serverless-client") as typeof import("@fal-ai/serverless-client");
    // 0.15 only installs its proxy middleware when it believes it runs in a browser.
    const scope = globalThis as { window?: unknown };
    scope.window = {};
    try {
      legacy.config({ proxyUrl, credentials: () => undefined });
    } finally {
      scope.window = undefined;
    }
    const run = (await legacy.run("fal-ai/fast-sdxl", { input: { prompt: "legacy" } })) as { prompt: string };
    expect(run.prompt).toBe("legacy");
    const direct = await recorded(/^\/fal-ai\/fast-sdxl\/?$/, "POST");
    expect(direct.host).toBe("fal.run");
    expectForwardedSafely(direct);

    const updates: string[] = [];
    const result = (await legacy.subscribe("fal-ai/fast-sdxl", {
      input: { prompt: "legacy queue" },
      logs: true,
      pollInterval: 100,
      onQueueUpdate: (update) => updates.push(update.status),
    })) as { prompt: string };
    expect(result.prompt).toBe("legacy queue");
    expect(updates.at(-1)).toBe("COMPLETED");
    expectForwardedSafely(await recorded(/\/requests\/[^/]+\/status$/, "GET"));
  });
});
