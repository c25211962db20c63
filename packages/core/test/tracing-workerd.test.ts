import { join } from "node:path";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
// The shared workerd helpers (esbuild bundle, miniflare) by path: @falgate/testkit depends on the core, so the core
// cannot list it as a dependency without a cycle in the workspace graph.
import { bundleWorker, type RunningWorker, startWorker } from "../../testkit/src/workerd.js";

interface ExportedSpan {
  name: string;
  kind: SpanKind;
  attributes: Record<string, unknown>;
  status: { code: SpanStatusCode; message?: string };
  startTime: [number, number];
  endTime: [number, number];
}

let mock: MockFal;
let worker: RunningWorker;

beforeAll(async () => {
  mock = await startMockFal();
  const script = await bundleWorker(join(__dirname, "fixtures/tracing-worker.ts"), { platform: "browser" });
  worker = await startWorker(script, {
    FAL_KEY: mock.key,
    FALGATE_UPSTREAM: mock.url,
    FALGATE_TOKEN_SECRET: "workerd-tracing-secret-0123456789abcdef",
  });
});
afterAll(async () => {
  await worker?.close();
  await mock?.close();
});

async function call(path: string, init: RequestInit & { target?: string; user?: string }) {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json");
  if (init.target) headers.set("x-fal-target-url", init.target);
  if (init.user) headers.set("x-user", init.user);
  const response = await fetch(`${worker.origin}/api/fal/proxy${path}`, { ...init, headers });
  await response.arrayBuffer();
  return response;
}

/** The finished spans, once there are `count` (a forwarded call's span ends when its answer has streamed out). */
async function spans(count: number): Promise<ExportedSpan[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const list = (await (await fetch(`${worker.origin}/spans`)).json()) as ExportedSpan[];
    if (list.length >= count) return list;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`fewer than ${count} spans`);
}

describe("createTracing in workerd (OpenTelemetry SDK, in-memory exporter)", () => {
  test("spans for a forwarded call, a refusal and both token mints", async () => {
    const forwarded = await call("", {
      method: "POST",
      target: "https://fal.run/fal-ai/fast-sdxl",
      user: "alice",
      body: JSON.stringify({ prompt: "a cat" }),
    });
    expect(forwarded.status).toBe(200);
    await spans(1);
    const refused = await call("", {
      method: "POST",
      target: "https://fal.run/other/app",
      user: "alice",
      body: "{}",
    });
    expect(refused.status).toBe(403);
    expect(
      (await call("/token", { method: "POST", user: "bob", body: '{"app":"fal-ai/fast-lcm"}' })).status,
    ).toBe(200);
    const falToken = await call("/token", {
      method: "POST",
      user: "bob",
      body: '{"app":"fal-ai/fast-lcm","type":"fal"}',
    });
    expect(falToken.status).toBe(200);

    const [proxy, refusal, falgateToken, falTokenSpan] = await spans(4);
    expect(proxy).toMatchObject({
      name: "falgate proxy",
      kind: SpanKind.CLIENT,
      status: { code: SpanStatusCode.UNSET },
      attributes: {
        "falgate.decision": "forwarded",
        "falgate.app": "fal-ai/fast-sdxl",
        "falgate.principal": "alice",
        "http.response.status_code": 200,
        "http.request.body.size": JSON.stringify({ prompt: "a cat" }).length,
        "fal.request_id": forwarded.headers.get("x-fal-request-id"),
      },
    });
    expect(proxy!.attributes["http.response.body.size"]).toBeGreaterThan(0);
    expect(refusal).toMatchObject({
      name: "falgate proxy",
      kind: SpanKind.INTERNAL,
      attributes: { "falgate.decision": "refused", "falgate.code": "endpoint_not_allowed" },
    });
    expect(falgateToken).toMatchObject({
      name: "falgate token",
      attributes: {
        "falgate.token.kind": "falgate",
        "falgate.decision": "answered",
        "falgate.principal": "bob",
      },
    });
    expect(falTokenSpan).toMatchObject({
      name: "falgate token",
      kind: SpanKind.CLIENT,
      attributes: { "falgate.token.kind": "fal", "falgate.decision": "forwarded" },
    });
    for (const span of [proxy, refusal, falgateToken, falTokenSpan]) {
      const start = span!.startTime[0] * 1e3 + span!.startTime[1] / 1e6;
      const end = span!.endTime[0] * 1e3 + span!.endTime[1] / 1e6;
      expect(end).toBeGreaterThanOrEqual(start);
      expect(Math.abs(start - Date.now())).toBeLessThan(60_000);
    }
  });
});
