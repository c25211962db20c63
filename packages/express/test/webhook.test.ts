import { createServer } from "node:http";
import type { FalWebhookPayload } from "@falgate/core";
import { type MockFal, type RecordedRequest, startMockFal } from "@falgate/mock-fal";
import { conformanceOptions, falClientThrough, listen, send, silentLogger } from "@falgate/testkit";
import express5, { type NextFunction, type Request, type Response } from "express";
import express4 from "express4";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createFalgateHandler, createFalWebhookHandler, keepRawBody } from "../src/index.js";

type Express = typeof express5;
const HOOK_ORIGIN = "https://hooks.test";
const HOOK_PATH = "/api/fal/webhook";

const isDelivery = (id: string) => (r: RecordedRequest) => r.webhook !== undefined && r.requestId === id;

describe("end to end: a job submitted through falgate with fal_webhook is delivered by mock-fal and verified", () => {
  let mock: MockFal;
  let origin: string;
  let closeApp: () => Promise<void>;
  const received: FalWebhookPayload<{ images: { url: string }[] }>[] = [];

  beforeAll(async () => {
    const app = express5();
    const server = await listen(createServer(app));
    origin = server.origin;
    closeApp = server.close;
    // fal calls the public https origin falgate allows; the mock delivers it to this local app.
    mock = await startMockFal({ queueMs: 30, runMs: 60, webhooks: { rewrite: { [HOOK_ORIGIN]: origin } } });
    // A typical app: a global JSON parser that keeps the raw bytes, the proxy, and the webhook route.
    app.use(express5.json({ verify: keepRawBody }));
    app.use(
      "/api/fal/proxy",
      createFalgateHandler({
        ...conformanceOptions(mock),
        webhookOrigins: [HOOK_ORIGIN],
        logger: silentLogger(),
      }),
    );
    app.post(
      HOOK_PATH,
      createFalWebhookHandler<{ images: { url: string }[] }, Request, Response>(
        { jwksUrl: mock.jwksUrl, logger: silentLogger() },
        (event, _req, res) => {
          received.push(event);
          res.status(200).json({ ok: true });
        },
      ),
    );
  });
  afterAll(async () => {
    await closeApp?.();
    await mock?.close();
  });

  test("fal.queue.submit({ webhookUrl }) → mock-fal POSTs the signed result → the app gets the verified payload", async () => {
    const fal = falClientThrough(`${origin}/api/fal/proxy`);
    const { request_id: id } = await fal.queue.submit("fal-ai/flux/dev", {
      input: { prompt: "a lighthouse at dusk", num_images: 2 },
      webhookUrl: `${HOOK_ORIGIN}${HOOK_PATH}`,
    });
    const submitted = await mock.waitForRequest((r) => r.requestId === id && r.webhook === undefined);
    expect(new URLSearchParams(submitted.search).get("fal_webhook")).toBe(`${HOOK_ORIGIN}${HOOK_PATH}`);

    const delivery = await mock.waitForRequest(isDelivery(id));
    expect(delivery.status).toBe(200);
    expect(delivery.webhook).toEqual({ url: `${origin}${HOOK_PATH}`, attempt: 1 });
    const { data } = await fal.queue.result("fal-ai/flux/dev", { requestId: id });
    expect(received).toEqual([{ request_id: id, gateway_request_id: id, status: "OK", payload: data }]);
    expect(received[0]!.status === "OK" && received[0]!.payload?.images).toHaveLength(2);

    // The same bytes again (a captured delivery) are refused as a replay.
    const replay = await send(`${origin}${HOOK_PATH}`, {
      method: "POST",
      headers: delivery.headers,
      body: delivery.body!,
    });
    expect(replay.status).toBe(401);
    expect(replay.json()).toMatchObject({ error: { code: "invalid_webhook" } });
    expect(replay.json<{ message: string }>().message).toMatch(/replay/);
    expect(received).toHaveLength(1);
  });

  test("a failed run is delivered as ERROR and verified the same way", async () => {
    const fal = falClientThrough(`${origin}/api/fal/proxy`);
    // `mock_status` makes the mock's run fail (an input field no real app has; hence the untyped endpoint id).
    const { request_id: id } = await fal.queue.submit("fal-ai/flux/fail" as string, {
      input: { prompt: "fail", mock_status: 503 },
      webhookUrl: `${HOOK_ORIGIN}${HOOK_PATH}`,
    });
    expect((await mock.waitForRequest(isDelivery(id))).status).toBe(200);
    expect(received.find((e) => e.request_id === id)).toMatchObject({
      status: "ERROR",
      error: "Invalid status code: 503",
    });
  });
});

describe.each([
  ["Express 5", express5],
  ["Express 4", express4],
])("%s: createFalWebhookHandler", (_name, express: Express) => {
  let mock: MockFal;
  const closers: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    mock = await startMockFal({ webhooks: { enabled: false } });
  });
  afterAll(() => mock.close());
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** Serves `mount(app)`, then the webhook route; resolves with its URL and what the callback received. */
  async function serve(
    mount: (app: ReturnType<Express>) => void = () => undefined,
    options: { maxBodySize?: number; answer?: boolean; fail?: boolean } = {},
  ) {
    const app = express();
    const events: FalWebhookPayload[] = [];
    const logger = silentLogger();
    mount(app);
    app.post(
      HOOK_PATH,
      createFalWebhookHandler<unknown, Request, Response>(
        {
          jwksUrl: mock.jwksUrl,
          logger,
          ...(options.maxBodySize ? { maxBodySize: options.maxBodySize } : {}),
        },
        async (event, _req, res) => {
          events.push(event);
          if (options.fail) throw new Error("handler exploded");
          if (options.answer !== false) res.status(202).json({ got: event.request_id });
        },
      ),
    );
    app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
      res.status(500).json({ handled: error.message });
    });
    const server = await listen(createServer(app));
    closers.push(server.close);
    return { url: `${server.origin}${HOOK_PATH}`, events, logger };
  }

  /** A delivery signed by the mock, as fal would send it. */
  function delivery(body = '{"request_id": "r-1", "status": "OK", "payload": {"n": 1}}', requestId = "r-1") {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      ...mock.signWebhook(body, { requestId }),
    };
    return { method: "POST", headers, body };
  }

  test("with no body parser: the raw stream is verified and the payload handed over", async () => {
    const { url, events } = await serve();
    const a = await send(url, delivery(undefined, crypto.randomUUID()));
    expect(a.status).toBe(202);
    expect(events).toEqual([
      { request_id: "r-1", gateway_request_id: "r-1", status: "OK", payload: { n: 1 } },
    ]);
  });

  test("after express.json({ verify: keepRawBody }) and after express.raw(): verified byte for byte", async () => {
    for (const mount of [
      (app: ReturnType<Express>) => app.use(express.json({ verify: keepRawBody })),
      (app: ReturnType<Express>) => app.use(express.raw({ type: "application/json" })),
    ]) {
      const { url, events } = await serve(mount);
      // Formatting json.parse + JSON.stringify would not reproduce: the bytes must be the ones signed.
      const body = '{"request_id": "r-1",  "status": "OK", "payload": {"text": "caf\\u00e9"}}';
      const a = await send(url, delivery(body, crypto.randomUUID()));
      expect(a.status).toBe(202);
      expect(events[0]).toMatchObject({ payload: { text: "café" } });
    }
  });

  test("after a plain express.json(): a 500 that says the raw body is needed (and a log line)", async () => {
    const { url, events, logger } = await serve((app) => app.use(express.json()));
    const a = await send(url, delivery(undefined, crypto.randomUUID()));
    expect(a.status).toBe(500);
    expect(a.json()).toMatchObject({ error: { code: "internal_error" } });
    expect(a.json<{ message: string }>().message).toMatch(/needs the raw request body.*keepRawBody/);
    expect(logger.lines.join("\n")).toMatch(/needs the raw request body/);
    expect(events).toHaveLength(0);
  });

  test("a tampered body, a foreign signature or a missing header: 401 invalid_webhook, callback not called", async () => {
    const { url, events } = await serve();
    const good = delivery(undefined, crypto.randomUUID());
    const tampered = await send(url, { ...good, body: good.body.replace('"n": 1', '"n": 2') });
    expect(tampered.status).toBe(401);
    expect(tampered.headers["content-type"]).toMatch(/^application\/json/);
    expect(tampered.json()).toEqual({
      error: { code: "invalid_webhook", message: expect.stringMatching(/signature does not verify/) },
      message: expect.stringMatching(/signature does not verify/),
    });
    const other = await startMockFal({ webhooks: { enabled: false } });
    closers.push(() => other.close());
    const body = '{"request_id": "r-9", "status": "OK", "payload": null}';
    const foreign = await send(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...other.signWebhook(body) },
      body,
    });
    expect(foreign.status).toBe(401);
    const { "x-fal-webhook-signature": _dropped, ...unsigned } = delivery().headers;
    const missing = await send(url, { method: "POST", headers: unsigned, body: delivery().body });
    expect(missing.status).toBe(401);
    expect(missing.json<{ message: string }>().message).toMatch(/no x-fal-webhook-signature header/);
    expect(events).toHaveLength(0);
  });

  test("a stale delivery is refused", async () => {
    const { url } = await serve();
    const body = '{"request_id": "old", "status": "OK", "payload": null}';
    const stale = mock.signWebhook(body, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    const a = await send(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...stale },
      body,
    });
    expect(a.status).toBe(401);
    expect(a.json<{ message: string }>().message).toMatch(/60\d s old/); // 600, or 601 when the second ticks over in between
  });

  test("a body over maxBodySize gets a 401 answer, not a dropped connection", async () => {
    const { url } = await serve(undefined, { maxBodySize: 1024 });
    const body = JSON.stringify({ request_id: "big", status: "OK", payload: "x".repeat(64 * 1024) });
    const a = await send(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "transfer-encoding": "chunked",
        ...mock.signWebhook(body),
      },
      body,
    });
    expect(a.status).toBe(401);
    expect(a.json<{ message: string }>().message).toMatch(/exceeds the 1024 byte limit/);
  });

  test("a callback that does not answer gets a 204; one that throws goes to the error middleware", async () => {
    const silent = await serve(undefined, { answer: false });
    const a = await send(silent.url, delivery(undefined, crypto.randomUUID()));
    expect(a.status).toBe(204);
    const failing = await serve(undefined, { fail: true });
    const b = await send(failing.url, delivery(undefined, crypto.randomUUID()));
    expect(b.status).toBe(500);
    expect(b.json()).toEqual({ handled: "handler exploded" });
  });

  test("a GET on a route mounted with app.use answers 405 with allow: POST", async () => {
    const app = express();
    app.use(
      HOOK_PATH,
      createFalWebhookHandler({ jwksUrl: mock.jwksUrl }, () => undefined),
    );
    const server = await listen(createServer(app));
    closers.push(server.close);
    const a = await send(`${server.origin}${HOOK_PATH}`);
    expect(a.status).toBe(405);
    expect(a.headers.allow).toBe("POST");
  });
});
