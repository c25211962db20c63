import type { FalWebhookPayload } from "@falgate/core";
import { type MockFal, type RecordedRequest, startMockFal } from "@falgate/mock-fal";
import { silentLogger } from "@falgate/testkit";
import { NextRequest } from "next/server.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createFalWebhookHandler } from "../src/index.js";

describe("Next App Router: createFalWebhookHandler with real NextRequests", () => {
  let mock: MockFal;
  let POST: (request: NextRequest) => Promise<Response>;
  const events: FalWebhookPayload<{ prompt: string }>[] = [];
  const answers: number[] = [];

  beforeAll(async () => {
    // mock-fal delivers each webhook as a NextRequest straight into the route handler, as Next would call it.
    mock = await startMockFal({
      queueMs: 20,
      runMs: 40,
      webhooks: {
        fetch: async (url, init) => {
          const response = await POST(
            new NextRequest(url, init as ConstructorParameters<typeof NextRequest>[1]),
          );
          answers.push(response.status);
          return response;
        },
      },
    });
    POST = createFalWebhookHandler<{ prompt: string }, NextRequest>(
      { jwksUrl: mock.jwksUrl, logger: silentLogger() },
      (event, request) => {
        expect(request.nextUrl.pathname).toBe("/api/fal/webhook");
        events.push(event);
        return undefined;
      },
    );
  });
  afterAll(() => mock?.close());

  test("a queue job's webhook is verified and handed to the route; the answer is 204", async () => {
    const hook = encodeURIComponent("https://app.example.com/api/fal/webhook");
    const res = await fetch(`${mock.url}/fal-ai/flux/dev?fal_webhook=${hook}`, {
      method: "POST",
      headers: {
        "x-falgate-upstream-host": "queue.fal.run",
        authorization: `Key ${mock.key}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ prompt: "next" }),
    });
    const { request_id: id } = (await res.json()) as { request_id: string };
    const delivery = await mock.waitForRequest(
      (r: RecordedRequest) => r.webhook !== undefined && r.requestId === id,
    );
    expect(delivery.status).toBe(204);
    expect(events.find((e) => e.request_id === id)).toMatchObject({
      status: "OK",
      payload: { prompt: "next" },
    });
  });

  test("refusals are 401 invalid_webhook JSON; other methods 405", async () => {
    const body = '{"request_id": "n", "status": "OK", "payload": null}';
    const signed = mock.signWebhook(body, { timestamp: Math.floor(Date.now() / 1000) + 3600 });
    const future = await POST(
      new NextRequest("https://app.example.com/api/fal/webhook", { method: "POST", headers: signed, body }),
    );
    expect(future.status).toBe(401);
    expect(await future.json()).toMatchObject({
      error: { code: "invalid_webhook", message: expect.stringMatching(/in the future/) },
    });
    const get = await POST(new NextRequest("https://app.example.com/api/fal/webhook"));
    expect(get.status).toBe(405);
  });
});
