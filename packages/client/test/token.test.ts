import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTokenProvider, FalgateRealtimeError } from "../src/index.js";
import { type FakeTunnel, startFakeTunnel } from "./helpers.js";

describe("createTokenProvider", () => {
  let fake: FakeTunnel;
  beforeEach(async () => {
    fake = await startFakeTunnel();
  });
  afterEach(async () => {
    await fake.close();
  });

  it("POSTs { app, type } to {proxyUrl}/token and returns the JWT string", async () => {
    const provider = createTokenProvider({ proxyUrl: fake.proxyUrl });
    expect(await provider("fal-ai/fast-lcm-diffusion/realtime")).toBe("token-1");
    const falgate = createTokenProvider({
      proxyUrl: "/api/fal/proxy/",
      baseUrl: `${fake.url}/some/page`,
      type: "falgate",
    });
    expect(await falgate("fal-ai/x/realtime")).toBe("token-2");
    expect(fake.tokenRequests).toEqual([
      { app: "fal-ai/fast-lcm-diffusion/realtime", type: "fal" },
      { app: "fal-ai/x/realtime", type: "falgate" },
    ]);
  });

  it("accepts the older { detail } wrapping", async () => {
    fake.tokenAnswer = () => ({ status: 200, body: { detail: "wrapped.jwt" } });
    expect(await createTokenProvider({ proxyUrl: fake.proxyUrl })("fal-ai/x")).toBe("wrapped.jwt");
  });

  it("turns falgate's error answer into a readable FalgateRealtimeError", async () => {
    fake.tokenAnswer = () => ({
      status: 401,
      body: {
        error: { code: "unauthenticated", message: "Sign in to use fal." },
        message: "Sign in to use fal.",
      },
    });
    const error = await createTokenProvider({ proxyUrl: fake.proxyUrl })("fal-ai/x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FalgateRealtimeError);
    expect(error).toMatchObject({
      kind: "token",
      code: "unauthenticated",
      status: 401,
      message: "Sign in to use fal.",
    });
  });

  it("reports an unreachable token route as network_error", async () => {
    // Port 1 on loopback: nothing listens there and unprivileged code cannot bind it.
    const error = await createTokenProvider({ proxyUrl: "http://127.0.0.1:1/api/fal/proxy" })(
      "fal-ai/x",
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "token", code: "network_error", status: undefined });
  });

  it("refuses a 200 answer without a token", async () => {
    fake.tokenAnswer = () => ({ status: 200, body: { nope: true } });
    await expect(createTokenProvider({ proxyUrl: fake.proxyUrl })("fal-ai/x")).rejects.toMatchObject({
      code: "invalid_response",
    });
  });
});
