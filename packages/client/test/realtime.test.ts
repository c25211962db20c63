import { once } from "node:events";
import { decode, encode } from "@msgpack/msgpack";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  type ConnectRealtimeOptions,
  connectRealtime,
  type FalgateRealtimeError,
  type RealtimeConnection,
  type RealtimeState,
} from "../src/index.js";
import { collector, type FakeTunnel, startFakeTunnel } from "./helpers.js";

type Output = Record<string, unknown>;

describe("connectRealtime through a tunnel", () => {
  let fake: FakeTunnel;
  let conn: RealtimeConnection<unknown> | undefined;
  const results = collector<Output>();
  const errors = collector<FalgateRealtimeError>();
  const states = collector<RealtimeState>();

  const connect = (options: Partial<ConnectRealtimeOptions<Output>> = {}) => {
    conn = connectRealtime<unknown, Output>("fal-ai/fast-lcm-diffusion", {
      proxyUrl: fake.proxyUrl,
      WebSocket,
      onResult: results.push,
      onError: errors.push,
      onStateChange: states.push,
      reconnect: { minDelay: 5, maxDelay: 20, maxRetries: 3 },
      ...options,
    });
    return conn;
  };

  beforeEach(async () => {
    fake = await startFakeTunnel();
    results.items.length = 0;
    errors.items.length = 0;
    states.items.length = 0;
  });
  afterEach(async () => {
    conn?.close();
    conn = undefined;
    await fake.close();
  });

  it("opens lazily with a falgate token, sends msgpack, decodes results and skips x-fal-message", async () => {
    const c = connect({ maxBuffering: 3 });
    expect(c.state).toBe("idle");
    c.send({ prompt: "a cat", seed: 1 });
    const server = await fake.connection(1);
    expect(fake.tokenRequests).toEqual([{ app: "fal-ai/fast-lcm-diffusion/realtime", type: "falgate" }]);
    expect(server.url.pathname).toBe("/api/fal/proxy/fal-ai/fast-lcm-diffusion/realtime");
    expect(server.url.searchParams.get("max_buffering")).toBe("3");
    expect(server.token).toBe("token-1");

    const [frame] = await fake.frames(server, 1);
    expect(frame!.binary).toBe(true);
    expect(decode(frame!.data)).toEqual({ prompt: "a cat", seed: 1 });

    server.socket.send(encode({ type: "x-fal-message", timings: { inference: 1 } }));
    server.socket.send(encode({ images: [{ url: "data:1" }] }));
    server.socket.send(JSON.stringify({ images: [{ url: "data:2" }] }));
    await results.next(2);
    expect(results.items).toEqual([{ images: [{ url: "data:1" }] }, { images: [{ url: "data:2" }] }]);
    expect(c.state).toBe("open");
    expect(errors.items).toEqual([]);
  });

  it("sends JSON text frames with encoding: json", async () => {
    const c = connect({ encoding: "json" });
    c.send({ prompt: "json please" });
    const server = await fake.connection(1);
    const [frame] = await fake.frames(server, 1);
    expect(frame!.binary).toBe(false);
    expect(JSON.parse(frame!.data.toString("utf8"))).toEqual({ prompt: "json please" });
  });

  it("queues sends while connecting, in order, dropping the oldest beyond the bound", async () => {
    const c = connect({ maxQueuedMessages: 3 });
    for (let i = 1; i <= 5; i++) c.send({ i });
    const server = await fake.connection(1);
    const frames = await fake.frames(server, 3);
    expect(frames.map((f) => decode(f.data))).toEqual([{ i: 3 }, { i: 4 }, { i: 5 }]);
    c.send({ i: 6 });
    await fake.frames(server, 4);
    expect(decode(server.frames[3]!.data)).toEqual({ i: 6 });
  });

  it("reports x-fal-error frames (not TIMEOUT) and reconnects after the server closes", async () => {
    const c = connect();
    c.send({ prompt: "x" });
    const first = await fake.connection(1);
    first.socket.send(JSON.stringify({ type: "x-fal-error", error: "TIMEOUT", reason: "idle" }));
    first.socket.send(encode({ type: "x-fal-error", error: "INTERNAL_ERROR", reason: "GPU on fire" }));
    const [error] = await errors.next(1);
    expect(error).toMatchObject({
      kind: "server",
      code: "INTERNAL_ERROR",
      message: "INTERNAL_ERROR: GPU on fire",
      willRetry: true,
    });
    first.socket.close(1011, "Internal error");
    const second = await fake.connection(2);
    expect(second.token).toBe("token-2");
    // One error for the frame; the close that follows it is not reported a second time.
    expect(errors.items).toHaveLength(1);
  });

  it("does not resend an input answered by an x-fal-error frame (a poison input goes out once)", async () => {
    const c = connect();
    c.send({ prompt: "poison" });
    const first = await fake.connection(1);
    await fake.frames(first, 1);
    first.socket.send(encode({ type: "x-fal-error", error: "INTERNAL_ERROR", reason: "bad input" }));
    await errors.next(1);
    first.socket.close(1011, "Internal error");
    const second = await fake.connection(2);
    c.send({ prompt: "fine" });
    const frames = await fake.frames(second, 1);
    expect(frames.map((f) => decode(f.data))).toEqual([{ prompt: "fine" }]);
    expect(errors.items).toHaveLength(1);
  });

  it("counts connections that answer and then drop within 5 s as failures, so the retries run out", async () => {
    const c = connect();
    // The server answers every input, then crashes; the user keeps sending.
    for (let n = 1; n <= 4; n++) {
      c.send({ n });
      const server = await fake.connection(n);
      await fake.frames(server, 1);
      server.socket.send(encode({ ok: n }));
      await results.next(n);
      server.socket.close(1011, "crash");
      await errors.next(n);
    }
    expect(errors.items.map((e) => e.willRetry)).toEqual([true, true, true, false]);
    expect(c.state).toBe("failed");
    expect(fake.tokens).toHaveLength(4);
    expect(results.items).toEqual([{ ok: 1 }, { ok: 2 }, { ok: 3 }, { ok: 4 }]);
  });

  it("on an Unauthorized frame, reconnects with a fresh token and resends the unanswered inputs", async () => {
    const c = connect();
    c.send({ n: 1 });
    const first = await fake.connection(1);
    await fake.frames(first, 1);
    first.socket.send(
      JSON.stringify({ status: "error", error: "Unauthorized", reason: "Token expired; fetch a new one." }),
    );
    const [error] = await errors.next(1);
    expect(error).toMatchObject({
      kind: "unauthorized",
      message: "Unauthorized: Token expired; fetch a new one.",
      willRetry: true,
    });
    // Sent after the refusal: must wait for the next connection, not vanish into the refused one.
    c.send({ n: 2 });
    const second = await fake.connection(2);
    expect(second.token).toBe("token-2");
    const frames = await fake.frames(second, 2);
    expect(frames.map((f) => decode(f.data))).toEqual([{ n: 1 }, { n: 2 }]);
    expect(first.frames).toHaveLength(1);
    expect(errors.items).toHaveLength(1);
  });

  it("reconnects with a fresh token when the connection drops without a close frame", async () => {
    const c = connect();
    c.send({ n: 1 });
    const first = await fake.connection(1);
    await fake.frames(first, 1);
    first.socket.send(encode({ ok: 1 }));
    await results.next(1);
    first.socket.terminate();
    const [error] = await errors.next(1);
    expect(error).toMatchObject({ kind: "closed", closeCode: 1006, code: "closed_1006", willRetry: true });
    const second = await fake.connection(2);
    expect(second.token).toBe("token-2");
    c.send({ n: 2 });
    second.socket.send(encode({ ok: 2 }));
    await results.next(2);
    expect(results.items).toEqual([{ ok: 1 }, { ok: 2 }]);
    await fake.frames(second, 1);
  });

  it("gives up after maxRetries failed attempts and starts over on the next send", async () => {
    fake.refuseUpgrade = (n) => n <= 4;
    const c = connect({ reconnect: { minDelay: 1, maxDelay: 5, maxRetries: 3 } });
    c.send({ n: 1 });
    await states.until((s) => s === "failed");
    expect(fake.tokens).toHaveLength(4);
    expect(errors.items.map((e) => e.willRetry)).toEqual([true, true, true, false]);
    expect(errors.items[0]).toMatchObject({ kind: "closed", closeCode: 1006 });
    c.send({ n: 2 });
    const server = await fake.connection(1);
    expect(server.token).toBe("token-5");
    expect((await fake.frames(server, 1)).map((f) => decode(f.data))).toEqual([{ n: 2 }]);
  });

  it("does not retry a token refusal (signed out) and surfaces falgate's message", async () => {
    fake.tokenAnswer = () => ({
      status: 401,
      body: { error: { code: "unauthenticated", message: "Sign in first." }, message: "Sign in first." },
    });
    const c = connect();
    c.send({ n: 1 });
    const [error] = await errors.next(1);
    expect(error).toMatchObject({
      kind: "token",
      code: "unauthenticated",
      status: 401,
      message: "Sign in first.",
      willRetry: false,
    });
    expect(c.state).toBe("failed");
    expect(fake.tokenRequests).toHaveLength(1);
  });

  it("retries a token route that answered 503", async () => {
    fake.tokenAnswer = (n) =>
      n === 1 ? { status: 503, body: { error: { code: "upstream_unavailable", message: "busy" } } } : null;
    const c = connect();
    c.send({ n: 1 });
    const server = await fake.connection(1);
    expect(errors.items[0]).toMatchObject({ kind: "token", status: 503, willRetry: true });
    expect((await fake.frames(server, 1)).map((f) => decode(f.data))).toEqual([{ n: 1 }]);
  });

  it("close() sends 1000, reports nothing and does not reconnect", async () => {
    const c = connect();
    c.send({ n: 1 });
    const server = await fake.connection(1);
    await states.until((s) => s === "open");
    const closed = once(server.socket, "close");
    c.close();
    const [code] = await closed;
    expect(code).toBe(1000);
    expect(c.state).toBe("idle");
    expect(errors.items).toEqual([]);
    expect(fake.tokens).toHaveLength(1);
  });

  it("after a clean server close (1000), stays idle until the next send, then uses a new token", async () => {
    const c = connect();
    c.send({ n: 1 });
    const first = await fake.connection(1);
    await fake.frames(first, 1);
    first.socket.close(1000, "idle");
    await states.next(3);
    expect(states.items).toEqual(["connecting", "open", "idle"]);
    expect(fake.tokens).toHaveLength(1);
    c.send({ n: 2 });
    const second = await fake.connection(2);
    expect(second.token).toBe("token-2");
    expect(errors.items).toEqual([]);
  });

  it("validates options up front", () => {
    const base = { proxyUrl: "http://127.0.0.1:1/api/fal/proxy", WebSocket, onResult: () => {} };
    expect(() => connectRealtime("fal-ai/x", { ...base, maxBuffering: 61 })).toThrow(/maxBuffering/);
    expect(() => connectRealtime("x", base)).toThrow(/invalid app id/);
    expect(() => connectRealtime("fal-ai/x", { ...base, WebSocket: undefined })).toThrow(
      /no global WebSocket/,
    );
    expect(() => connectRealtime("fal-ai/x", { ...base, reconnect: { maxRetries: -1 } })).toThrow(
      /maxRetries/,
    );
  });
});
