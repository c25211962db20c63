import { once } from "node:events";
import { decode, encode } from "@msgpack/msgpack";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RawData, WebSocket } from "ws";
import { type MockFal, startMockFal } from "../src/index.js";
import { postJson } from "./helpers.js";

let mock: MockFal;
beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());

interface Frame {
  data: Buffer;
  binary: boolean;
}

/** Opens a realtime socket the way falgate's tunnel does (fal host in the routing header). */
async function connect(
  path: string,
  headers: Record<string, string> = { authorization: `Key ${mock.key}` },
): Promise<{ ws: WebSocket; next: () => Promise<Frame>; closed: Promise<[number, string]> }> {
  const ws = new WebSocket(`${mock.wsUrl}${path}`, {
    headers: { "x-falgate-upstream-host": "fal.run", ...headers },
  });
  const queue: Frame[] = [];
  const waiters: ((frame: Frame) => void)[] = [];
  ws.on("message", (data: RawData, binary: boolean) => {
    const frame = { data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), binary };
    const waiter = waiters.shift();
    if (waiter) waiter(frame);
    else queue.push(frame);
  });
  const closed = once(ws, "close").then(
    ([code, reason]) => [code as number, String(reason)] as [number, string],
  );
  await once(ws, "open");
  return {
    ws,
    next: () => {
      const frame = queue.shift();
      return frame ? Promise.resolve(frame) : new Promise((resolve) => waiters.push(resolve));
    },
    closed,
  };
}

async function mintToken(apps: string[]): Promise<string> {
  return (await (
    await postJson(mock, "rest.fal.ai", "/tokens/", { allowed_apps: apps, token_expiration: 120 })
  ).json()) as string;
}

describe("realtime", () => {
  it("answers msgpack input with a msgpack result and records both frames", async () => {
    const { ws, next } = await connect("/fal-ai/fast-lcm-diffusion/realtime?max_buffering=5");
    const input = encode({ prompt: "a cyborg", request_id: "req-1" });
    ws.send(input);
    const frame = await next();
    expect(frame.binary).toBe(true);
    const result = decode(frame.data) as Record<string, unknown>;
    expect(result).toMatchObject({
      request_id: "req-1",
      images: [expect.objectContaining({ width: 256, height: 256, content_type: "image/png" })],
      seed: expect.any(Number),
      timings: expect.any(Object),
    });
    const url = (result.images as { url: string }[])[0]!.url;
    expect((await fetch(url)).headers.get("content-type")).toBe("image/png");
    const record = await mock.waitForRequest((r) => r.websocket && (r.frames?.length ?? 0) >= 2);
    expect(record).toMatchObject({
      host: "fal.run",
      path: "/fal-ai/fast-lcm-diffusion/realtime",
      status: 101,
    });
    expect(new URLSearchParams(record.search).get("max_buffering")).toBe("5");
    expect(record.frames![0]).toMatchObject({ direction: "in", binary: true });
    expect(record.frames![0]!.data.equals(Buffer.from(input))).toBe(true);
    expect(record.frames![1]!.data.equals(frame.data)).toBe(true);
    ws.close(1000);
  });

  it("answers JSON text input with a JSON text result; results keep input order", async () => {
    const { ws, next } = await connect("/fal-ai/fast-lcm-diffusion/realtime");
    for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ prompt: `p${i}`, request_id: `r${i}` }));
    for (let i = 0; i < 5; i++) {
      const frame = await next();
      expect(frame.binary).toBe(false);
      expect(JSON.parse(frame.data.toString())).toMatchObject({ request_id: `r${i}` });
    }
    ws.close();
  });

  it("accepts a minted fal_jwt_token for the app alias", async () => {
    const token = await mintToken(["fast-lcm-diffusion"]);
    const { ws, next } = await connect(`/fal-ai/fast-lcm-diffusion/realtime?fal_jwt_token=${token}`, {});
    ws.send(encode({ prompt: "with token" }));
    expect(decode((await next()).data)).toMatchObject({ images: expect.any(Array) });
    ws.close();
  });

  it.each([
    ["no credentials", "", {}],
    ["a wrong key", "", { authorization: "Key wrong:key" }],
    ["a token for another app", "other-app", {}],
    ["a token signed by someone else", "forged", {}],
  ])("with %s: sends the Unauthorized frame and closes", async (_name, tokenKind, headers) => {
    let query = "";
    if (tokenKind === "other-app") query = `?fal_jwt_token=${await mintToken(["flux"])}`;
    if (tokenKind === "forged") {
      const forged = await new SignJWT({ allowed_apps: ["fast-lcm-diffusion"] })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer("mock-fal")
        .setIssuedAt()
        .setExpirationTime("2m")
        .sign(new TextEncoder().encode("x".repeat(32)));
      query = `?fal_jwt_token=${forged}`;
    }
    const { next, closed } = await connect(`/fal-ai/fast-lcm-diffusion/realtime${query}`, headers);
    const frame = await next();
    expect(frame.binary).toBe(false);
    expect(JSON.parse(frame.data.toString())).toEqual({ status: "error", error: "Unauthorized" });
    expect((await closed)[0]).toBe(1008);
  });

  it("mock_error produces an x-fal-error frame, then a close (1011; 1000 for TIMEOUT)", async () => {
    const a = await connect("/fal-ai/fast-lcm-diffusion/realtime");
    a.ws.send(encode({ mock_error: "INTERNAL_ERROR", reason: "boom" }));
    expect(decode((await a.next()).data)).toEqual({
      type: "x-fal-error",
      error: "INTERNAL_ERROR",
      reason: "boom",
    });
    expect((await a.closed)[0]).toBe(1011);

    const b = await connect("/fal-ai/fast-lcm-diffusion/realtime");
    b.ws.send(JSON.stringify({ mock_error: "TIMEOUT" }));
    expect(JSON.parse((await b.next()).data.toString())).toMatchObject({
      type: "x-fal-error",
      error: "TIMEOUT",
    });
    expect((await b.closed)[0]).toBe(1000);
  });

  it("mock_message sends an x-fal-message frame before the result; mock_close closes with the given code", async () => {
    const { ws, next, closed } = await connect("/fal-ai/fast-lcm-diffusion/realtime");
    ws.send(encode({ prompt: "x", mock_message: true }));
    expect(decode((await next()).data)).toMatchObject({ type: "x-fal-message" });
    expect(decode((await next()).data)).toMatchObject({ images: expect.any(Array) });
    ws.send(encode({ mock_close: { code: 4001, reason: "bye" } }));
    expect(await closed).toEqual([4001, "bye"]);
    const record = await mock.waitForRequest((r) => r.closeCode === 4001);
    expect(record.closeReason).toBe("bye");
  });

  it("echo app answers exactly the bytes it got, text stays text and binary stays binary", async () => {
    const { ws, next } = await connect("/fal-ai/echo/realtime");
    const binary = Buffer.from([0, 1, 2, 250, 251, 255]);
    const text = "héllo \u{1f600}";
    ws.send(binary);
    ws.send(text);
    const first = await next();
    const second = await next();
    expect(first.binary).toBe(true);
    expect(first.data.equals(binary)).toBe(true);
    expect(second.binary).toBe(false);
    expect(second.data.toString("utf8")).toBe(text);
    ws.close();
  });

  it("serves custom realtime paths and sync_mode data URIs", async () => {
    const { ws, next } = await connect("/fal-ai/fast-sdxl/ws");
    ws.send(encode({ prompt: "inline", sync_mode: true }));
    const result = decode((await next()).data) as { images: { url: string }[] };
    expect(result.images[0]!.url.startsWith("data:image/png;base64,iVBORw0KGgo")).toBe(true);
    ws.close();
  });

  it("answers 404 to upgrades on hosts other than fal.run", async () => {
    const ws = new WebSocket(`${mock.wsUrl}/fal-ai/x/realtime`, {
      headers: { "x-falgate-upstream-host": "queue.fal.run", authorization: `Key ${mock.key}` },
    });
    const [error] = (await once(ws, "error")) as [Error];
    expect(error.message).toMatch(/404/);
  });
});
