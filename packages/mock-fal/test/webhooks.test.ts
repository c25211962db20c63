import { createHash, createPublicKey, verify } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type MockFal, type MockFalOptions, type RecordedRequest, startMockFal } from "../src/index.js";
import { falFetch, postJson } from "./helpers.js";

/** A delivery as the receiving server saw it. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A real receiver on loopback answering each delivery with the next status of `statuses` (then 200). */
async function receiver(statuses: number[] = []): Promise<{ origin: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => close(server));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function mockWith(options: MockFalOptions = {}): Promise<MockFal> {
  const mock = await startMockFal({ queueMs: 20, runMs: 40, ...options });
  cleanups.push(() => mock.close());
  return mock;
}

/** Submits to the queue with `fal_webhook=hook`; resolves with the request id. */
async function submit(mock: MockFal, hook: string, input: unknown, app = "fal-ai/flux/dev"): Promise<string> {
  const res = await postJson(mock, "queue.fal.run", `/${app}?fal_webhook=${encodeURIComponent(hook)}`, input);
  expect(res.status).toBe(200);
  return ((await res.json()) as { request_id: string }).request_id;
}

/** Checks fal's signature scheme with node:crypto and the mock's published key set (not the mock's signer). */
async function verifies(mock: MockFal, headers: Record<string, string | string[] | undefined>, body: Buffer) {
  const jwks = (await (await fetch(mock.jwksUrl)).json()) as { keys: Record<string, string>[] };
  const h = (name: string) => String(headers[name]);
  const digest = createHash("sha256").update(body).digest("hex");
  const message = Buffer.from(
    `${h("x-fal-webhook-request-id")}\n${h("x-fal-webhook-user-id")}\n${h("x-fal-webhook-timestamp")}\n${digest}`,
  );
  const signature = Buffer.from(h("x-fal-webhook-signature"), "hex");
  return jwks.keys.some((jwk) =>
    verify(null, message, createPublicKey({ key: jwk, format: "jwk" }), signature),
  );
}

const isDelivery = (id: string) => (r: RecordedRequest) => r.webhook !== undefined && r.requestId === id;

describe("webhook key set", () => {
  it("serves one OKP Ed25519 key at mock.jwksUrl and on rest.fal.ai, with no key needed", async () => {
    const mock = await mockWith();
    expect(mock.jwksUrl).toBe(`${mock.url}/.well-known/jwks.json`);
    const direct = await fetch(mock.jwksUrl);
    expect(direct.status).toBe(200);
    expect(direct.headers.get("cache-control")).toBe("public, max-age=600");
    const set = (await direct.json()) as { keys: Record<string, string>[] };
    expect(set.keys).toHaveLength(1);
    expect(set.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", use: "sig", alg: "EdDSA" });
    expect(set.keys[0]!.x).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(set.keys[0]).not.toHaveProperty("d");
    for (const host of ["rest.fal.ai", "rest.alpha.fal.ai"]) {
      const routed = await falFetch(mock, host, "/.well-known/jwks.json", { auth: false });
      expect(await routed.json()).toEqual(set);
    }
    // Another mock has another key: keys are generated per instance, never stored.
    const other = await mockWith();
    const otherSet = (await (await fetch(other.jwksUrl)).json()) as { keys: Record<string, string>[] };
    expect(otherSet.keys[0]!.x).not.toBe(set.keys[0]!.x);
  });

  it("rotateWebhookKey keeps the old key published (or drops it) and signs with the new one", async () => {
    const mock = await mockWith();
    const body = Buffer.from('{"request_id": "r", "status": "OK", "payload": null}');
    const before = mock.signWebhook(body, { requestId: "r" });
    expect(await verifies(mock, before, body)).toBe(true);
    mock.rotateWebhookKey();
    const after = mock.signWebhook(body, { requestId: "r", timestamp: before["x-fal-webhook-timestamp"] });
    expect(after["x-fal-webhook-signature"]).not.toBe(before["x-fal-webhook-signature"]);
    expect(((await (await fetch(mock.jwksUrl)).json()) as { keys: unknown[] }).keys).toHaveLength(2);
    expect(await verifies(mock, before, body)).toBe(true);
    expect(await verifies(mock, after, body)).toBe(true);
    mock.rotateWebhookKey({ keepPrevious: false });
    expect(((await (await fetch(mock.jwksUrl)).json()) as { keys: unknown[] }).keys).toHaveLength(1);
    expect(await verifies(mock, after, body)).toBe(false);
    expect(await verifies(mock, mock.signWebhook(body), body)).toBe(true);
  });

  it("signWebhook signs exactly the given request id, user id and timestamp", async () => {
    const mock = await mockWith({ webhooks: { userId: "user-9" } });
    const headers = mock.signWebhook("{}", { requestId: "abc", timestamp: 1700000000 });
    expect(headers).toMatchObject({
      "x-fal-webhook-request-id": "abc",
      "x-fal-webhook-user-id": "user-9",
      "x-fal-webhook-timestamp": "1700000000",
    });
    expect(headers["x-fal-webhook-signature"]).toMatch(/^[0-9a-f]{128}$/);
    expect(await verifies(mock, headers, Buffer.from("{}"))).toBe(true);
    expect(await verifies(mock, headers, Buffer.from("{ }"))).toBe(false);
  });
});

describe("webhook delivery", () => {
  it("POSTs the signed result to fal_webhook when the job completes, and records the delivery", async () => {
    const app = await receiver();
    const mock = await mockWith();
    const submittedAt = Date.now();
    const id = await submit(mock, `${app.origin}/hooks/fal?user=7`, { prompt: "a webhook", num_images: 2 });
    const record = await mock.waitForRequest(isDelivery(id));
    expect(record.at - submittedAt).toBeGreaterThanOrEqual(55); // queueMs + runMs, not before
    expect(app.received).toHaveLength(1);
    const got = app.received[0]!;
    expect(got.path).toBe("/hooks/fal?user=7");
    expect(got.headers["content-type"]).toBe("application/json");
    expect(got.headers["x-fal-webhook-request-id"]).toBe(id);
    expect(got.headers["x-fal-webhook-user-id"]).toBe("mock-user");
    expect(Math.abs(Number(got.headers["x-fal-webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(5);
    expect(await verifies(mock, got.headers, got.body)).toBe(true);
    // The body is laid out the way Python's json.dumps writes it; the payload is the queue result.
    expect(got.body.toString()).toMatch(/^\{"request_id": "[0-9a-f-]{36}", "gateway_request_id": /);
    const result = await falFetch(mock, "queue.fal.run", `/fal-ai/flux/requests/${id}`);
    expect(result.headers.get("x-fal-billable-units")).toBe("2");
    expect(JSON.parse(got.body.toString())).toEqual({
      request_id: id,
      gateway_request_id: id,
      status: "OK",
      payload: await result.json(),
    });
    expect(record).toMatchObject({
      method: "POST",
      host: new URL(app.origin).host,
      path: "/hooks/fal",
      search: "?user=7",
      status: 200,
      complete: true,
      webhook: { url: `${app.origin}/hooks/fal?user=7`, attempt: 1 },
    });
    expect(record.body?.equals(got.body)).toBe(true);
    expect(record.bodySha256).toBe(createHash("sha256").update(got.body).digest("hex"));
    expect(record.headers["x-fal-webhook-signature"]).toBe(got.headers["x-fal-webhook-signature"]);
  });

  it("retries a failed delivery with backoff, signing each attempt, and stops after the first 2xx", async () => {
    const app = await receiver([500, 503]);
    const mock = await mockWith({ webhooks: { retryDelayMs: 30 } });
    const id = await submit(mock, `${app.origin}/hook`, { prompt: "retry me" });
    await mock.waitForRequest((r) => isDelivery(id)(r) && r.status === 200);
    const attempts = mock.requests.filter(isDelivery(id));
    expect(attempts.map((r) => [r.webhook?.attempt, r.status])).toEqual([
      [1, 500],
      [2, 503],
      [3, 200],
    ]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(25);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(55); // doubled
    for (const got of app.received) expect(await verifies(mock, got.headers, got.body)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(app.received).toHaveLength(3);
  });

  it("gives up after `retries` when the receiver is unreachable, recording each network error", async () => {
    const app = await receiver();
    const unreachable = app.origin.replace(/:\d+$/, ":1"); // nothing listens on port 1
    const mock = await mockWith({ webhooks: { retries: 2, retryDelayMs: 5 } });
    const id = await submit(mock, `${unreachable}/hook`, { prompt: "nobody home" });
    await mock.waitForRequest((r) => isDelivery(id)(r) && r.webhook?.attempt === 3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const attempts = mock.requests.filter(isDelivery(id));
    expect(attempts).toHaveLength(3);
    for (const attempt of attempts) {
      expect(attempt.status).toBeUndefined();
      expect(attempt.webhook?.error).toBeTruthy();
    }
  });

  it("a run that fails (mock_status) is delivered as status ERROR with fal's error message", async () => {
    const app = await receiver();
    const mock = await mockWith();
    const id = await submit(mock, `${app.origin}/hook`, { prompt: "x", mock_status: 500 });
    await mock.waitForRequest(isDelivery(id));
    expect(JSON.parse(app.received[0]!.body.toString())).toEqual({
      request_id: id,
      gateway_request_id: id,
      status: "ERROR",
      error: "Invalid status code: 500",
      payload: { detail: "Mock failure (mock_status 500)" },
    });
    const status = await falFetch(mock, "queue.fal.run", `/fal-ai/flux/requests/${id}/status`);
    expect(await status.json()).toMatchObject({ status: "COMPLETED", error: "Invalid status code: 500" });
    const result = await falFetch(mock, "queue.fal.run", `/fal-ai/flux/requests/${id}`);
    expect(result.status).toBe(500);
    expect(result.headers.get("x-fal-billable-units")).toBeNull();
  });

  it("a cancelled request is delivered right away as ERROR", async () => {
    const app = await receiver();
    const mock = await mockWith({ queueMs: 5000, runMs: 5000 });
    const id = await submit(mock, `${app.origin}/hook`, { prompt: "cancel me" });
    const cancel = await falFetch(mock, "queue.fal.run", `/fal-ai/flux/requests/${id}/cancel`, {
      method: "PUT",
    });
    expect(cancel.status).toBe(202);
    await mock.waitForRequest(isDelivery(id), 2000);
    expect(JSON.parse(app.received[0]!.body.toString())).toMatchObject({
      request_id: id,
      status: "ERROR",
      error: "Request was cancelled",
    });
  });

  it("an output that is not JSON (echo bytes) arrives as payload null with payload_error", async () => {
    const app = await receiver();
    const mock = await mockWith();
    const res = await falFetch(
      mock,
      "queue.fal.run",
      `/fal-ai/echo?fal_webhook=${encodeURIComponent(`${app.origin}/hook`)}`,
      { method: "POST", body: "raw bytes", headers: { "content-type": "application/octet-stream" } },
    );
    const { request_id: id } = (await res.json()) as { request_id: string };
    await mock.waitForRequest(isDelivery(id));
    expect(JSON.parse(app.received[0]!.body.toString())).toMatchObject({
      status: "OK",
      payload: null,
      payload_error: expect.stringContaining("not JSON serializable"),
    });
  });

  it("`rewrite` maps a public https origin to a local server; a custom fetch sees every delivery", async () => {
    const app = await receiver();
    const seen: string[] = [];
    const mock = await mockWith({
      webhooks: {
        rewrite: { "https://app.example.com": app.origin },
        fetch: (url, init) => {
          seen.push(url);
          return fetch(url, init);
        },
      },
    });
    const id = await submit(mock, "https://app.example.com/api/fal/webhook?x=1", { prompt: "rewritten" });
    const record = await mock.waitForRequest(isDelivery(id));
    expect(seen).toEqual([`${app.origin}/api/fal/webhook?x=1`]);
    expect(app.received[0]!.path).toBe("/api/fal/webhook?x=1");
    expect(record.status).toBe(200);
  });

  it("`enabled: false` delivers nothing; reset() drops pending deliveries", async () => {
    const app = await receiver();
    const off = await mockWith({ webhooks: { enabled: false } });
    await submit(off, `${app.origin}/hook`, { prompt: "quiet" });
    const on = await mockWith({ queueMs: 400, runMs: 0 });
    await submit(on, `${app.origin}/hook`, { prompt: "reset before completion" });
    on.reset();
    await new Promise((resolve) => setTimeout(resolve, 800)); // well past when it would have been delivered
    expect(app.received).toHaveLength(0);
    expect(off.requests.some((r) => r.webhook)).toBe(false);
  });

  it("bad webhook options throw a TypeError naming the field", async () => {
    await expect(startMockFal({ webhooks: { retries: -1 } })).rejects.toThrow(/webhooks.retries/);
    await expect(startMockFal({ webhooks: { retries: 1.5 } })).rejects.toThrow(/webhooks.retries/);
    await expect(startMockFal({ webhooks: { userId: "a b" } })).rejects.toThrow(/webhooks.userId/);
    await expect(startMockFal({ webhooks: { rewrite: { nope: "x" } } })).rejects.toThrow(/webhooks.rewrite/);
  });
});

describe("x-fal-billable-units", () => {
  const run = (mock: MockFal, path: string, input: unknown) => postJson(mock, "fal.run", path, input);

  it("defaults to one unit per image on runs, streams and queue results (echo counts one)", async () => {
    const mock = await mockWith();
    expect(
      (await run(mock, "/fal-ai/flux/dev", { prompt: "x", num_images: 3 })).headers.get(
        "x-fal-billable-units",
      ),
    ).toBe("3");
    const stream = await run(mock, "/fal-ai/flux/dev/stream", { prompt: "x", num_images: 2 });
    expect(stream.headers.get("x-fal-billable-units")).toBe("2");
    await stream.text();
    const echo = await falFetch(mock, "fal.run", "/fal-ai/echo", { method: "POST", body: "{}" });
    expect(echo.headers.get("x-fal-billable-units")).toBe("1");
    await echo.text();
  });

  it("a map prices per endpoint, then per app, else 1; a number prices every app", async () => {
    const mock = await mockWith({ billableUnits: { "fal-ai/flux/dev": 2, "fal-ai/flux": 5 } });
    const units = async (path: string, input: unknown = { prompt: "x" }) =>
      (await run(mock, path, input)).headers.get("x-fal-billable-units");
    expect(await units("/fal-ai/flux/dev")).toBe("2");
    expect(await units("/fal-ai/flux/dev", { prompt: "x", num_images: 2 })).toBe("4");
    expect(await units("/fal-ai/flux/schnell")).toBe("5");
    expect(await units("/fal-ai/fast-sdxl")).toBe("1");
    const flat = await mockWith({ billableUnits: 0.5 });
    expect(
      (await run(flat, "/fal-ai/fast-sdxl", { prompt: "x", num_images: 4 })).headers.get(
        "x-fal-billable-units",
      ),
    ).toBe("2");
  });

  it("a function decides every call, with the endpoint, app, images and mode", async () => {
    const calls: unknown[] = [];
    const mock = await mockWith({
      billableUnits: (call) => {
        calls.push(call);
        return call.mode === "queue" ? 7 : 3;
      },
    });
    expect((await run(mock, "/fal-ai/flux/dev", { prompt: "x" })).headers.get("x-fal-billable-units")).toBe(
      "3",
    );
    const sub = await postJson(mock, "queue.fal.run", "/fal-ai/flux/dev", { prompt: "x", num_images: 2 });
    const { request_id: id } = (await sub.json()) as { request_id: string };
    await new Promise((resolve) => setTimeout(resolve, 120));
    const result = await falFetch(mock, "queue.fal.run", `/fal-ai/flux/requests/${id}`);
    expect(result.status).toBe(200);
    expect(result.headers.get("x-fal-billable-units")).toBe("7");
    expect(calls).toEqual([
      { endpoint: "fal-ai/flux/dev", app: "fal-ai/flux", images: 1, mode: "run" },
      { endpoint: "fal-ai/flux/dev", app: "fal-ai/flux", images: 2, mode: "queue" },
    ]);
  });

  it("bad values throw a TypeError", async () => {
    await expect(startMockFal({ billableUnits: -1 })).rejects.toThrow(/billableUnits/);
    await expect(startMockFal({ billableUnits: { "fal-ai/flux": Number.NaN } })).rejects.toThrow(
      /billableUnits\["fal-ai\/flux"\]/,
    );
  });
});
