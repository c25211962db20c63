import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { context, ProxyTracerProvider, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { createFalgate, createTracing, type FalgateOptions } from "../src/index.js";

const PROXY = "http://app.test/api/fal/proxy";
const SECRET = "tracing-test-secret-0123456789abcdef0123";
let mock: MockFal;

beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());
afterEach(() => {
  trace.disable();
  context.disable();
  vi.restoreAllMocks();
});

/** The OpenTelemetry SDK, registered globally the way an app's tracing set-up does, spans kept in memory. */
function registerSdk() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  return { exporter, provider, spans: () => exporter.getFinishedSpans() };
}

function traced(options: FalgateOptions = {}) {
  const falgate = createFalgate({
    credentials: mock.key,
    upstream: mock.url,
    logger: { warn: () => undefined, error: () => undefined },
    authorize: (request) => {
      const user = request.headers.get("x-user");
      return user ? { id: user } : null;
    },
    tokens: { secret: SECRET },
    // fal tokens need the app named: `fal-ai/*` alone cannot pin an alias to its owner.
    allowedEndpoints: ["fal-ai/*", "fal-ai/fast-lcm"],
    observers: [createTracing()],
    ...options,
  });
  const call = async (path: string, init: RequestInit & { target?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.target) headers.set("x-fal-target-url", init.target);
    const response = await falgate.fetch(new Request(`${PROXY}${path}`, { ...init, headers }));
    return { response, text: await response.text() };
  };
  return { falgate, call };
}

const post = (user: string | null, body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...(user ? { "x-user": user } : {}) },
  body: JSON.stringify(body),
});

function only(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((span) => span.name === name);
  expect(found, `one ${name} span`).toHaveLength(1);
  return found[0]!;
}

const ms = (time: [number, number]) => time[0] * 1000 + time[1] / 1e6;

describe("createTracing on Node (OpenTelemetry SDK, in-memory exporter)", () => {
  test("a forwarded call: one client span, child of the active span, with endpoint, decision, status, bytes, request id", async () => {
    const sdk = registerSdk();
    const { call } = traced();
    const parent = trace.getTracer("app").startSpan("POST /api/fal/proxy");
    const body = { prompt: "a cat" };
    const before = Date.now();
    const { response } = await context.with(trace.setSpan(context.active(), parent), () =>
      call("", { ...post("alice", body), target: "https://fal.run/fal-ai/fast-sdxl/turbo" }),
    );
    const after = Date.now();
    parent.end();
    expect(response.status).toBe(200);

    const span = only(sdk.spans(), "falgate proxy");
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(span.instrumentationScope.name).toBe("@falgate/core");
    expect(span.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.response.status_code": 200,
      "http.request.body.size": JSON.stringify(body).length,
      "falgate.route": "proxy",
      "falgate.decision": "forwarded",
      "falgate.principal": "alice",
      "falgate.app": "fal-ai/fast-sdxl",
      "falgate.endpoint": "fal-ai/fast-sdxl/turbo",
      "falgate.action": "run",
      "fal.request_id": response.headers.get("x-fal-request-id"),
    });
    expect(span.attributes["http.response.body.size"]).toBeGreaterThan(0);
    expect(span.attributes["falgate.upstream_ms"]).toBeGreaterThan(0);
    expect(span.attributes["falgate.code"]).toBeUndefined();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    // The span covers the call as falgate timed it: from the decision to the answer's last byte.
    expect(ms(span.startTime)).toBeGreaterThanOrEqual(before - 1);
    expect(ms(span.endTime)).toBeLessThanOrEqual(after + 1);
    expect(ms(span.endTime)).toBeGreaterThan(ms(span.startTime));
  });

  test("refusals and falgate's own answers get a span too; 5xx are errors, 4xx are not", async () => {
    const sdk = registerSdk();
    const { call } = traced();
    await call("", { ...post("alice", {}), target: "https://fal.run/someone/else" });
    await call("", { ...post(null, {}), target: "https://fal.run/fal-ai/fast-sdxl" });
    const [notAllowed, unauthenticated] = sdk.spans();
    expect(notAllowed!.name).toBe("falgate proxy");
    expect(notAllowed!.kind).toBe(SpanKind.INTERNAL);
    expect(notAllowed!.attributes).toMatchObject({
      "falgate.decision": "refused",
      "falgate.code": "endpoint_not_allowed",
      "error.type": "endpoint_not_allowed",
      "http.response.status_code": 403,
      "falgate.principal": "alice",
    });
    expect(notAllowed!.status.code).toBe(SpanStatusCode.UNSET);
    expect(unauthenticated!.attributes["falgate.principal"]).toBeUndefined();

    const broken = traced({ credentials: undefined, env: {} });
    await broken.call("", { ...post("alice", { prompt: "x" }), target: "https://fal.run/fal-ai/fast-sdxl" });
    const failed = sdk.spans()[2]!;
    expect(failed.attributes).toMatchObject({
      "falgate.code": "missing_credentials",
      "http.response.status_code": 500,
    });
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: "missing_credentials" });
  });

  test("token mints: falgate tokens (answered), fal tokens from the token route and through the proxy", async () => {
    const sdk = registerSdk();
    const { call } = traced();
    const minted = await call("/token", post("bob", { app: "fal-ai/fast-lcm" }));
    expect(minted.response.status).toBe(200);
    await call("/token", post("bob", { app: "fal-ai/fast-lcm", type: "fal" }));
    await call("", {
      ...post("bob", { allowed_apps: ["fast-lcm"], token_expiration: 60 }),
      target: "https://rest.fal.ai/tokens/",
    });
    const [falgateToken, falToken, proxiedFalToken] = sdk.spans();
    expect(falgateToken!.name).toBe("falgate token");
    expect(falgateToken!.kind).toBe(SpanKind.INTERNAL);
    expect(falgateToken!.attributes).toMatchObject({
      "falgate.decision": "answered",
      "falgate.token.kind": "falgate",
      "falgate.endpoint": "fal-ai/fast-lcm",
      "falgate.principal": "bob",
    });
    expect(falToken!.name).toBe("falgate token");
    expect(falToken!.kind).toBe(SpanKind.CLIENT);
    expect(falToken!.attributes).toMatchObject({
      "falgate.decision": "forwarded",
      "falgate.token.kind": "fal",
    });
    expect(proxiedFalToken!.name).toBe("falgate proxy");
    expect(proxiedFalToken!.attributes).toMatchObject({
      "falgate.action": "token",
      "falgate.token.kind": "fal",
      "http.response.status_code": 200,
    });
  });

  test("a forwarded call that fails is an error span", async () => {
    const sdk = registerSdk();
    const { call } = traced({ upstream: "http://127.0.0.1:9" });
    const { response } = await call("", {
      ...post("a", { prompt: "x" }),
      target: "https://fal.run/fal-ai/fast-sdxl",
    });
    expect(response.status).toBeGreaterThanOrEqual(500);
    const span = only(sdk.spans(), "falgate proxy");
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["falgate.code"]).toMatch(/^upstream_/);
  });

  test("with no SDK registered, the observer never asks for a tracer; an SDK registered later is used", async () => {
    // Every way to a tracer while no SDK is registered: the global proxy provider and its no-op delegate.
    const noop = new ProxyTracerProvider().getDelegate();
    const spies = [
      vi.spyOn(ProxyTracerProvider.prototype, "getTracer"),
      vi.spyOn(ProxyTracerProvider.prototype, "getDelegateTracer"),
      vi.spyOn(noop, "getTracer"),
    ];
    const { call } = traced();
    await call("", { ...post("a", { prompt: "x" }), target: "https://fal.run/fal-ai/fast-sdxl" });
    await call("", { ...post("a", {}), target: "https://fal.run/someone/else" });
    await call("/token", post("a", { app: "fal-ai/fast-lcm" }));
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();

    const sdk = registerSdk();
    await call("", { ...post("a", { prompt: "x" }), target: "https://fal.run/fal-ai/fast-sdxl" });
    expect(sdk.spans().map((span) => span.name)).toEqual(["falgate proxy"]);
  });

  test("an explicit tracerProvider is used instead of the global one", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const { call } = traced({
      observers: [createTracing({ tracerProvider: provider, tracerName: "proxy" })],
    });
    await call("", { ...post("a", { prompt: "x" }), target: "https://fal.run/fal-ai/fast-sdxl" });
    const [span] = exporter.getFinishedSpans();
    expect(span?.instrumentationScope.name).toBe("proxy");
    expect(() => createTracing({ tracerProvider: {} as BasicTracerProvider })).toThrow(TypeError);
    expect(() => createTracing({ tracerName: "" })).toThrow(TypeError);
  });
});
