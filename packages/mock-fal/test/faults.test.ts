import { once } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type MockFal, startMockFal } from "../src/index.js";
import { falFetch, postJson, rawRequest } from "./helpers.js";

let mock: MockFal;
beforeAll(async () => {
  mock = await startMockFal({ runMs: 200 });
});
afterEach(() => mock.reset());
afterAll(() => mock.close());

const RUN = {
  method: "POST",
  host: "fal.run",
  path: "/fal-ai/fast-sdxl",
  body: JSON.stringify({ prompt: "f" }),
};

describe("faults", () => {
  it("delay: answers normally, but not before delayMs", async () => {
    mock.fault({ kind: "delay", delayMs: 150, path: "^/fal-ai/fast-sdxl$" });
    const started = Date.now();
    const res = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "slow" });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(mock.requests.at(-1)!.fault).toBe("delay");
  });

  it("status: answers the given status, body and headers, `times` times, then normally", async () => {
    mock.fault({
      kind: "status",
      status: 503,
      body: { detail: "busy" },
      headers: { "retry-after": "1" },
      times: 2,
    });
    for (let i = 0; i < 2; i++) {
      const res = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "x" });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(res.headers.get("x-fal-request-id")).toBeTruthy();
      expect(await res.json()).toEqual({ detail: "busy" });
    }
    expect((await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "x" })).status).toBe(200);
    const text = { kind: "status", status: 502, body: "<html>nginx</html>" } as const;
    mock.fault(text);
    const res = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "x" });
    expect([res.status, res.headers.get("content-type"), await res.text()]).toEqual([
      502,
      "text/plain; charset=utf-8",
      "<html>nginx</html>",
    ]);
  });

  it("matches on method, host and path; the first matching fault wins", async () => {
    mock.fault({ kind: "status", status: 418, method: "GET", host: "queue.fal.run" });
    mock.fault({ kind: "status", status: 409, path: /\/cancel$/ });
    mock.fault({ kind: "status", status: 500 });
    expect((await falFetch(mock, "queue.fal.run", "/fal-ai/x/requests/1/status")).status).toBe(418);
    expect(
      (await falFetch(mock, "queue.fal.run", "/fal-ai/x/requests/1/cancel", { method: "PUT" })).status,
    ).toBe(409);
    expect((await falFetch(mock, "fal.run", "/fal-ai/x")).status).toBe(500);
    mock.clearFaults();
    expect((await falFetch(mock, "queue.fal.run", "/fal-ai/x/requests/1/status")).status).toBe(404);
  });

  it("rejects invalid specs with a TypeError naming the field", () => {
    expect(() => mock.fault({ kind: "nope" } as never)).toThrow(/kind/);
    expect(() => mock.fault({ kind: "status", status: 99 })).toThrow(/status/);
    expect(() => mock.fault({ kind: "delay" })).toThrow(/delayMs/);
    expect(() => mock.fault({ kind: "stall", path: "(" })).toThrow(/path/);
    expect(() => mock.fault({ kind: "reset", times: 0 })).toThrow(/times/);
  });

  it("reset: reads the whole request, then resets the connection before any answer byte", async () => {
    mock.fault({ kind: "reset", path: "^/fal-ai/fast-sdxl$", times: 1 });
    const result = await rawRequest(mock, RUN);
    expect(result.status).toBeUndefined();
    expect(result.error?.code).toBe("ECONNRESET");
    const record = await mock.waitForRequest((r) => r.fault === "reset");
    expect(record).toMatchObject({ complete: true, bodyLength: RUN.body.length, aborted: true });
    await expect(
      postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "x" }).then((r) => r.status),
    ).resolves.toBe(200);
  });

  it("reset-during-body: status and headers, exactly afterBytes of the body, then the connection drops", async () => {
    mock.fault({ kind: "reset-during-body", afterBytes: 10 });
    const result = await rawRequest(mock, RUN);
    expect(result.status).toBe(200);
    expect(result.ended).toBe(false);
    expect(result.body.toString()).toBe('{"images":');
    const record = await mock.waitForRequest((r) => r.fault === "reset-during-body" && r.aborted);
    expect(record.finishedAt).toBeUndefined();
  });

  it("reset-during-body cuts an SSE stream after its first bytes", async () => {
    mock.fault({ kind: "reset-during-body", afterBytes: 20, path: "/stream$" });
    const result = await rawRequest(mock, { ...RUN, path: "/fal-ai/fast-sdxl/stream" });
    expect(result.status).toBe(200);
    expect(result.headers?.["content-type"]).toBe("text/event-stream");
    expect(result.ended).toBe(false);
    expect(result.body.toString()).toBe(": keep-alive\n\ndata: ");
  });

  it("stall: sends status, headers and afterBytes, then silence until the client gives up", async () => {
    mock.fault({ kind: "stall", afterBytes: 14, path: "/stream$" });
    const result = await rawRequest(mock, { ...RUN, path: "/fal-ai/fast-sdxl/stream" }, (status, abort) => {
      expect(status).toBe(200);
      // The client gives up once the mock's own stream would long be over (runMs is 200).
      void mock
        .waitForRequest((r) => r.path === "/fal-ai/fast-sdxl/stream" && r.status === 200)
        .then(() => new Promise((r) => setTimeout(r, 400)))
        .then(abort);
    });
    expect(result.body.toString()).toBe(": keep-alive\n\n");
    const record = await mock.waitForRequest((r) => r.fault === "stall" && r.aborted);
    expect(record.finishedAt).toBeUndefined();
  });

  it("stall with afterBytes 0 on a JSON answer: headers only", async () => {
    mock.fault({ kind: "stall" });
    const res = await postJson(mock, "fal.run", "/fal-ai/fast-sdxl", { prompt: "x" }).catch(
      (e: unknown) => e,
    );
    // fetch resolves on headers; the body never comes
    expect(res).toBeInstanceOf(Response);
    const reader = (res as Response).body!.getReader();
    const pending = reader.read();
    const outcome = await Promise.race([
      pending.then(() => "data"),
      new Promise((r) => setTimeout(() => r("silence"), 300)),
    ]);
    expect(outcome).toBe("silence");
    await reader.cancel();
  });
});

describe("WebSocket faults", () => {
  const wsHeaders = () => ({ "x-falgate-upstream-host": "fal.run", authorization: `Key ${mock.key}` });

  it("status refuses the upgrade with that HTTP status", async () => {
    mock.fault({ kind: "status", status: 403, path: "/realtime$" });
    const ws = new WebSocket(`${mock.wsUrl}/fal-ai/lcm/realtime`, { headers: wsHeaders() });
    const [request, response] = (await once(ws, "unexpected-response")) as [
      { destroy(): void },
      { statusCode: number },
    ];
    expect(response.statusCode).toBe(403);
    request.destroy();
  });

  it("reset drops the connection before the upgrade answer", async () => {
    mock.fault({ kind: "reset", path: "/realtime$" });
    const ws = new WebSocket(`${mock.wsUrl}/fal-ai/lcm/realtime`, { headers: wsHeaders() });
    const [error] = (await once(ws, "error")) as [NodeJS.ErrnoException];
    expect(error.code).toBe("ECONNRESET");
  });

  it("reset-during-body drops the socket (no close frame) instead of the first answer frame", async () => {
    mock.fault({ kind: "reset-during-body", path: "/realtime$" });
    const ws = new WebSocket(`${mock.wsUrl}/fal-ai/lcm/realtime`, { headers: wsHeaders() });
    const frames: unknown[] = [];
    ws.on("message", (data) => frames.push(data));
    await once(ws, "open");
    ws.send(JSON.stringify({ prompt: "x" }));
    const [code] = (await once(ws, "close")) as [number];
    expect(code).toBe(1006);
    expect(frames).toEqual([]);
  });

  it("stall upgrades, then swallows answers", async () => {
    mock.fault({ kind: "stall", path: "/realtime$" });
    const ws = new WebSocket(`${mock.wsUrl}/fal-ai/lcm/realtime`, { headers: wsHeaders() });
    await once(ws, "open");
    ws.send(JSON.stringify({ prompt: "x" }));
    const record = await mock.waitForRequest((r) => r.websocket && (r.frames?.length ?? 0) > 0);
    expect(record.frames!.map((f) => f.direction)).toEqual(["in"]);
    ws.close();
    await once(ws, "close");
  });
});

describe("close()", () => {
  it("is fast with stalled requests, open streams and WebSockets, and closes them all", async () => {
    const local = await startMockFal({ runMs: 60_000 });
    local.fault({ kind: "stall", path: "^/stalled" });
    const stalled = rawRequest(local, { host: "fal.run", path: "/stalled/app" });
    const streaming = rawRequest(local, { ...RUN, path: "/fal-ai/fast-sdxl/stream" });
    const ws = new WebSocket(`${local.wsUrl}/fal-ai/lcm/realtime`, {
      headers: { "x-falgate-upstream-host": "fal.run", authorization: `Key ${local.key}` },
    });
    await once(ws, "open");
    await local.waitForRequest((r) => r.path === "/stalled/app");
    await local.waitForRequest((r) => r.path === "/fal-ai/fast-sdxl/stream");
    const wsClosed = once(ws, "close");
    const waiting = local
      .waitForRequest((r) => r.path === "/never", 60_000)
      .then(
        () => "resolved",
        (error: Error) => error.message,
      );
    await local.close();
    const [a, b] = await Promise.all([stalled, streaming]);
    expect(a.ended).toBe(false);
    expect(b.ended).toBe(false);
    await wsClosed;
    expect(await waiting).toMatch(/closed/);
    await expect(fetch(`${local.url}/_mock/health`)).rejects.toThrow();
  });
});
