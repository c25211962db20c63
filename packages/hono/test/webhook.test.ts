import type { Server } from "node:http";
import type { FalWebhookPayload } from "@falgate/core";
import { type MockFal, type RecordedRequest, startMockFal } from "@falgate/mock-fal";
import { listen, send, silentLogger } from "@falgate/testkit";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createFalWebhookHandler } from "../src/index.js";

const HOOK = "/api/fal/webhook";

describe("Hono: createFalWebhookHandler on @hono/node-server", () => {
  let mock: MockFal;
  let origin: string;
  let close: () => Promise<void>;
  const events: FalWebhookPayload[] = [];
  const peeked: unknown[] = [];

  beforeAll(async () => {
    const app = new Hono();
    const server = await listen(createAdaptorServer({ fetch: (request) => app.fetch(request) }) as Server);
    origin = server.origin;
    close = server.close;
    mock = await startMockFal({
      queueMs: 20,
      runMs: 40,
      webhooks: { rewrite: { "https://hooks.test": origin } },
    });
    const options = { jwksUrl: mock.jwksUrl, logger: silentLogger() };
    app.post(
      HOOK,
      createFalWebhookHandler(options, (event, c) => {
        events.push(event);
        return c.json({ received: event.request_id }, 200);
      }),
    );
    // A middleware that reads the JSON body first (a logger, a validator): the cached text is the signed bytes.
    app.use("/peek/*", async (c, next) => {
      peeked.push(await c.req.json());
      await next();
    });
    app.post(
      `/peek${HOOK}`,
      createFalWebhookHandler(options, (event) => {
        events.push(event);
        return undefined;
      }),
    );
  });
  afterAll(async () => {
    await close?.();
    await mock?.close();
  });

  test("a queue job's webhook, delivered by mock-fal, is verified and handed over", async () => {
    const res = await fetch(
      `${mock.url}/fal-ai/flux/dev?fal_webhook=${encodeURIComponent(`https://hooks.test${HOOK}`)}`,
      {
        method: "POST",
        headers: {
          "x-falgate-upstream-host": "queue.fal.run",
          authorization: `Key ${mock.key}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ prompt: "hono" }),
      },
    );
    const { request_id: id } = (await res.json()) as { request_id: string };
    const delivery = await mock.waitForRequest(
      (r: RecordedRequest) => r.webhook !== undefined && r.requestId === id,
    );
    expect(delivery.status).toBe(200);
    expect(events.find((e) => e.request_id === id)).toMatchObject({
      status: "OK",
      payload: { prompt: "hono" },
    });
    const replay = await send(`${origin}${HOOK}`, {
      method: "POST",
      headers: delivery.headers,
      body: delivery.body!,
    });
    expect(replay.status).toBe(401);
    expect(replay.json()).toMatchObject({ error: { code: "invalid_webhook" } });
  });

  test("after a middleware read c.req.json(), the body is still verified byte for byte", async () => {
    const body = '{"request_id": "peeked",  "status": "OK", "payload": {"a": [1, 2]}}';
    const a = await send(`${origin}/peek${HOOK}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...mock.signWebhook(body) },
      body,
    });
    expect(a.status).toBe(204);
    expect(peeked.at(-1)).toEqual({ request_id: "peeked", status: "OK", payload: { a: [1, 2] } });
    expect(events.at(-1)).toMatchObject({ request_id: "peeked", payload: { a: [1, 2] } });
  });

  test("a tampered or unsigned delivery gets 401 invalid_webhook JSON", async () => {
    const body = '{"request_id": "t", "status": "OK", "payload": 1}';
    const headers = { "content-type": "application/json", ...mock.signWebhook(body) };
    const tampered = await send(`${origin}${HOOK}`, {
      method: "POST",
      headers,
      body: body.replace("1}", "2}"),
    });
    expect(tampered.status).toBe(401);
    expect(tampered.json()).toMatchObject({
      error: { code: "invalid_webhook", message: expect.stringMatching(/signature does not verify/) },
    });
    const unsigned = await send(`${origin}${HOOK}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(unsigned.status).toBe(401);
    expect(unsigned.json<{ message: string }>().message).toMatch(/no x-fal-webhook-request-id header/);
  });

  test("bad options throw a TypeError when the handler is created", () => {
    expect(() => createFalWebhookHandler({ tolerance: -5 }, () => undefined)).toThrow(/`tolerance`/);
  });
});
