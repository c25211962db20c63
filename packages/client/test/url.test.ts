import { describe, expect, it } from "vitest";
import {
  classifyFrame,
  decodeMessage,
  encodeMessage,
  realtimeAppPath,
  resolveProxyUrl,
  tunnelUrl,
} from "../src/index.js";

describe("tunnel URLs", () => {
  it("replaces wss://fal.run with the proxy mount, in ws: or wss: like the page", () => {
    const appPath = realtimeAppPath("fal-ai/fast-lcm-diffusion");
    expect(appPath).toBe("fal-ai/fast-lcm-diffusion/realtime");
    expect(
      tunnelUrl(resolveProxyUrl("/api/fal/proxy/", "https://app.example/page?x=1"), appPath, "t.k.n", 5),
    ).toBe(
      "wss://app.example/api/fal/proxy/fal-ai/fast-lcm-diffusion/realtime?max_buffering=5&fal_jwt_token=t.k.n",
    );
    expect(tunnelUrl(resolveProxyUrl("http://127.0.0.1:3000/api/fal/proxy"), appPath, "abc")).toBe(
      "ws://127.0.0.1:3000/api/fal/proxy/fal-ai/fast-lcm-diffusion/realtime?fal_jwt_token=abc",
    );
  });

  it("computes the app path like the official client (custom path, no double /realtime)", () => {
    expect(realtimeAppPath("fal-ai/x/realtime")).toBe("fal-ai/x/realtime");
    expect(realtimeAppPath("/fal-ai/x/", "/ws")).toBe("fal-ai/x/ws");
    expect(() => realtimeAppPath("fast-sdxl")).toThrow(TypeError);
  });

  it("refuses a relative proxyUrl without a base, and non-http URLs", () => {
    expect(() => resolveProxyUrl("/api/fal/proxy")).toThrow(/absolute URL or `baseUrl`/);
    expect(() => resolveProxyUrl("ftp://x/y")).toThrow(/http\(s\)/);
  });
});

describe("frames", () => {
  it("classifies server frames like fal.realtime.connect", () => {
    expect(classifyFrame({ images: [] })).toEqual({ kind: "result", value: { images: [] } });
    expect(classifyFrame({ type: "x-fal-message", timings: {} })).toEqual({ kind: "ignore" });
    expect(classifyFrame({ type: "x-fal-error", error: "TIMEOUT", reason: "idle" })).toEqual({
      kind: "ignore",
    });
    expect(classifyFrame({ type: "x-fal-error", error: "INTERNAL_ERROR", reason: "boom" })).toEqual({
      kind: "error",
      error: "INTERNAL_ERROR",
      reason: "boom",
    });
    expect(classifyFrame({ status: "error", error: "Unauthorized", reason: "expired" })).toEqual({
      kind: "unauthorized",
      reason: "expired",
    });
  });

  it("encodes msgpack as binary and json as text, and decodes both", async () => {
    const input = { prompt: "a cat", seed: 7 };
    const binary = encodeMessage(input, "msgpack");
    expect(binary).toBeInstanceOf(Uint8Array);
    expect(await decodeMessage(binary)).toEqual(input);
    const copy = (binary as Uint8Array).slice().buffer;
    expect(await decodeMessage(copy)).toEqual(input);
    const text = encodeMessage(input, "json");
    expect(text).toBe(JSON.stringify(input));
    expect(await decodeMessage(text)).toEqual(input);
    const raw = new Uint8Array([1, 2, 3]);
    expect(encodeMessage(raw, "json")).toBe(raw);
  });
});
