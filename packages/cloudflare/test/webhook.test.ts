import { join } from "node:path";
import { type MockFal, type RecordedRequest, startMockFal } from "@falgate/mock-fal";
import { bundleWorker, type RunningWorker, send, startWorker } from "@falgate/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createFalWebhookHandler } from "../src/index.js";

describe("Workers: createFalWebhookHandler in workerd (WebCrypto Ed25519)", () => {
  let mock: MockFal;
  let worker: RunningWorker;

  beforeAll(async () => {
    let origin = "";
    // fal calls a public https URL; the mock delivers it to the Worker running in workerd.
    mock = await startMockFal({
      queueMs: 20,
      runMs: 40,
      webhooks: { fetch: (url, init) => fetch(url.replace("https://hooks.test", origin), init) },
    });
    worker = await startWorker(await bundleWorker(join(__dirname, "fixtures/webhook-worker.ts")), {
      JWKS_URL: mock.jwksUrl,
    });
    origin = worker.origin;
  });
  afterAll(async () => {
    await worker?.close();
    await mock?.close();
  });

  test("a queue job's webhook is verified inside workerd and handed to the callback", async () => {
    const hook = encodeURIComponent("https://hooks.test/api/fal/webhook");
    const res = await fetch(`${mock.url}/fal-ai/flux/dev?fal_webhook=${hook}`, {
      method: "POST",
      headers: {
        "x-falgate-upstream-host": "queue.fal.run",
        authorization: `Key ${mock.key}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ prompt: "workerd" }),
    });
    const { request_id: id } = (await res.json()) as { request_id: string };
    const delivery = await mock.waitForRequest(
      (r: RecordedRequest) => r.webhook !== undefined && r.requestId === id,
    );
    expect(delivery.status).toBe(200);
    // The Worker fetched the key set from the mock.
    expect(mock.requests.some((r) => r.path === "/.well-known/jwks.json" && r.status === 200)).toBe(true);
    const seen = (await (await fetch(`${worker.origin}/seen`)).json()) as Array<Record<string, unknown>>;
    expect(seen.find((e) => e.request_id === id)).toMatchObject({
      status: "OK",
      payload: { prompt: "workerd" },
    });

    const replay = await send(`${worker.origin}/api/fal/webhook`, {
      method: "POST",
      headers: delivery.headers,
      body: delivery.body!,
    });
    expect(replay.status).toBe(401);
    expect(replay.json<{ message: string }>().message).toMatch(/replay/);
  });

  test("tampered, foreign-key and malformed deliveries get 401 invalid_webhook", async () => {
    const url = `${worker.origin}/api/fal/webhook`;
    const body = '{"request_id": "w", "status": "OK", "payload": {"n": 1}}';
    const headers = { "content-type": "application/json", ...mock.signWebhook(body) };
    const tampered = await send(url, { method: "POST", headers, body: body.replace('"n": 1', '"n": 2') });
    expect(tampered.status).toBe(401);
    expect(tampered.json()).toMatchObject({
      error: { code: "invalid_webhook", message: expect.stringMatching(/signature does not verify/) },
    });
    const other = await startMockFal({ webhooks: { enabled: false } });
    try {
      const foreign = await send(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...other.signWebhook(body) },
        body,
      });
      expect(foreign.status).toBe(401);
    } finally {
      await other.close();
    }
    const malformed = await send(url, {
      method: "POST",
      headers: { ...headers, "x-fal-webhook-signature": "not-hex" },
      body,
    });
    expect(malformed.json<{ message: string }>().message).toMatch(/128 hex digits/);
    const ok = await send(url, { method: "POST", headers, body });
    expect(ok.status).toBe(200);
    expect(ok.json()).toEqual({ received: "w" });
  });

  test("static options are validated when the handler is created", () => {
    expect(() => createFalWebhookHandler({ jwksUrl: "http://example.com/jwks" }, () => undefined)).toThrow(
      /`jwksUrl`/,
    );
  });
});
