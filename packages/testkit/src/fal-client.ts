import { createHash, randomBytes } from "node:crypto";
import { createFalClient, type FalClient } from "@fal-ai/client";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { conformanceOptions, type HandlerUnderTest, type StartHandler } from "./conformance.js";

/**
 * A server-side `@fal-ai/client` that goes through the proxy at `proxyUrl` and behaves like a same-origin page
 * (it adds `Sec-Fetch-Site: same-origin`, which a browser sends on its own), so no `authorize` hook is needed.
 */
export function falClientThrough(proxyUrl: string): FalClient {
  return createFalClient({
    proxyUrl: { url: proxyUrl, when: "always" },
    credentials: undefined,
    requestMiddleware: async (request) => ({
      ...request,
      headers: { ...(request.headers ?? {}), "sec-fetch-site": "same-origin" },
    }),
  });
}

/** The official `@fal-ai/client` end to end through the adapter: run, subscribe, stream, cancel, upload. */
export function describeFalClient(config: { name: string; start: StartHandler }): void {
  describe(`@fal-ai/client through ${config.name}`, () => {
    let mock: MockFal;
    let gate: HandlerUnderTest;
    let fal: FalClient;

    beforeAll(async () => {
      mock = await startMockFal({ runMs: 200, queueMs: 50 });
      gate = await config.start(conformanceOptions(mock));
      fal = falClientThrough(gate.url);
    });
    afterAll(async () => {
      await gate?.close();
      await mock?.close();
    });
    afterEach(() => mock.reset());

    test("fal.run returns the app's output", async () => {
      const { data, requestId } = await fal.run("fal-ai/fast-sdxl", { input: { prompt: "a lighthouse" } });
      expect(data.prompt).toBe("a lighthouse");
      expect(data.images[0]?.content_type).toBe("image/png");
      expect(requestId).toBeTruthy();
      const seen = await mock.waitForRequest((r) => r.method === "POST");
      expect(seen.headers.authorization).toBe(`Key ${mock.key}`);
    });

    test("fal.subscribe (polling, with logs) walks the queue to the result", async () => {
      const statuses: string[] = [];
      const { data } = await fal.subscribe("fal-ai/fast-sdxl", {
        input: { prompt: "queued" },
        logs: true,
        pollInterval: 50,
        onQueueUpdate: (update) => statuses.push(update.status),
      });
      expect(data.prompt).toBe("queued");
      expect(statuses.at(-1)).toBe("COMPLETED");
    });

    test("fal.subscribe in streaming mode follows the SSE status stream", async () => {
      const statuses: string[] = [];
      const { data } = await fal.subscribe("fal-ai/fast-sdxl", {
        input: { prompt: "streamed status" },
        mode: "streaming",
        onQueueUpdate: (update) => statuses.push(update.status),
      });
      expect(data.prompt).toBe("streamed status");
      expect(statuses).toContain("COMPLETED");
      const seen = await mock.waitForRequest((r) => r.path.endsWith("/status/stream"));
      expect(seen.method).toBe("GET");
    });

    test("fal.stream yields partial events, then the final output", async () => {
      const stream = await fal.stream("fal-ai/fast-sdxl", { input: { prompt: "partials" } });
      let events = 0;
      for await (const _event of stream) events++;
      const output = await stream.done();
      expect(events).toBeGreaterThan(1);
      expect(output.images.length).toBeGreaterThan(0);
    });

    test("fal.queue.cancel sends an empty PUT that reaches fal", async () => {
      const slow = await fal.queue.submit("fal-ai/fast-sdxl", { input: { prompt: "cancel me" } });
      await fal.queue.cancel("fal-ai/fast-sdxl", { requestId: slow.request_id });
      const seen = await mock.waitForRequest((r) => r.method === "PUT");
      expect(seen.path).toBe(`/fal-ai/fast-sdxl/requests/${slow.request_id}/cancel`);
      expect(seen.bodyLength).toBe(0);
    });

    test("fal.storage.upload stores a binary file byte-identical", async () => {
      const bytes = randomBytes(256 * 1024);
      const url = await fal.storage.upload(new Blob([bytes], { type: "application/octet-stream" }));
      const initiate = await mock.waitForRequest((r) => r.path.startsWith("/storage/upload/initiate"));
      expect(initiate.host).toBe("rest.fal.ai");
      expect(initiate.headers.authorization).toBe(`Key ${mock.key}`);
      const stored = mock.getFile(url);
      expect(stored?.complete).toBe(true);
      expect(stored?.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    });
  });
}
