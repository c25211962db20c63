import { describe, expect, test } from "vitest";
import { FalgateError } from "../src/errors.js";
import { classifyTarget, compileEndpointPolicy } from "../src/policy/index.js";
import { webInput } from "../src/proxy/input.js";
import { type FalTokenContext, rewriteFalTokenRequest as rewriteInput } from "../src/tokens/fal.js";
import { createTokenIssuer } from "../src/tokens/index.js";
import {
  isTokenPath,
  mintFalgateToken,
  type TokenRouteContext,
  type TokenRouteResult,
  tokenRoute,
} from "../src/tokens/route.js";

const rewriteFalTokenRequest = async (request: Request, c: FalTokenContext) =>
  (await rewriteInput(webInput(request), c)).body;
const handleTokenRoute = (request: Request, c: TokenRouteContext) => tokenRoute(webInput(request), c);

const SECRET = "an-hs256-secret-of-at-least-32-bytes!!";

function tokenRequest(body: unknown, init: RequestInit = {}): Request {
  return new Request("http://app.test/api/fal/proxy", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

function ctx(allowedEndpoints?: string[], narrowing?: string[], maxExpiration?: number): FalTokenContext {
  return {
    principal: { id: "user-1", ...(narrowing ? { endpoints: narrowing } : {}) },
    endpoints: compileEndpointPolicy(allowedEndpoints),
    maxExpiration: maxExpiration ?? 120,
  };
}

async function refused(promise: Promise<unknown>): Promise<FalgateError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a refusal");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FalgateError);
  return error as FalgateError;
}

describe("token targets are recognised by the classifier", () => {
  test.each([
    ["https://rest.fal.ai/tokens/", true],
    ["https://rest.alpha.fal.ai/tokens/", true],
    ["https://rest.fal.ai/tokens", true],
    ["https://rest.fal.ai/tokens/abc", false],
    ["https://fal.run/tokens/", false],
    ["https://rest.fal.ai/storage/upload/initiate", false],
  ])("%s -> %s", (url, expected) => {
    expect(classifyTarget(new URL(url)).kind === "token").toBe(expected);
  });
});

describe("rewriteFalTokenRequest: clamping", () => {
  test.each<[string, unknown, number | undefined, number]>([
    ["the official client's 120 s", 120, undefined, 120],
    ["an hour, clamped to the default 120 s", 3600, undefined, 120],
    ["absent: the maximum", undefined, undefined, 120],
    ["null: the maximum", null, undefined, 120],
    ["below a custom maximum", 30, 60, 30],
    ["above a custom maximum", 100, 60, 60],
    ["fractional, floored", 30.7, undefined, 30],
  ])("%s", async (_name, expiration, max, expected) => {
    const body = await rewriteFalTokenRequest(
      tokenRequest({
        allowed_apps: ["fast-sdxl"],
        ...(expiration === undefined ? {} : { token_expiration: expiration }),
      }),
      ctx(undefined, undefined, max),
    );
    expect(JSON.parse(body)).toEqual({ allowed_apps: ["fast-sdxl"], token_expiration: expected });
  });

  test("unknown fields are dropped and duplicate aliases collapsed", async () => {
    const body = await rewriteFalTokenRequest(
      tokenRequest({
        allowed_apps: ["fast-sdxl", "fast-sdxl"],
        token_expiration: 60,
        scopes: ["admin"],
        owner: "x",
      }),
      ctx(),
    );
    expect(body).toBe('{"allowed_apps":["fast-sdxl"],"token_expiration":60}');
  });
});

describe("rewriteFalTokenRequest: aliases are policed", () => {
  test("an alias outside allowedEndpoints is refused", async () => {
    const c = ctx(["fal-ai/fast-sdxl", "fal-ai/flux/*"]);
    await expect(
      rewriteFalTokenRequest(tokenRequest({ allowed_apps: ["fast-sdxl", "flux"] }), c),
    ).resolves.toBeTypeOf("string");
    const error = await refused(
      rewriteFalTokenRequest(tokenRequest({ allowed_apps: ["fast-sdxl", "sora"] }), c),
    );
    expect(error.code).toBe("endpoint_not_allowed");
    expect(error.message).toContain("sora");
  });

  test("the principal's narrowing applies on top of the proxy policy", async () => {
    const c = ctx(undefined, ["fal-ai/fast-lcm-diffusion"]);
    await expect(
      rewriteFalTokenRequest(tokenRequest({ allowed_apps: ["fast-lcm-diffusion"] }), c),
    ).resolves.toBeTypeOf("string");
    expect(
      (await refused(rewriteFalTokenRequest(tokenRequest({ allowed_apps: ["fast-sdxl"] }), c))).code,
    ).toBe("endpoint_not_allowed");
  });

  test("an empty allowlist allows no token at all", async () => {
    expect(
      (await refused(rewriteFalTokenRequest(tokenRequest({ allowed_apps: ["fast-sdxl"] }), ctx([])))).code,
    ).toBe("endpoint_not_allowed");
  });
});

describe("rewriteFalTokenRequest: malformed bodies", () => {
  test.each<[string, unknown, string]>([
    ["not JSON", "{allowed_apps:", "invalid_body"],
    ["an array", [], "invalid_body"],
    ["a string", "fast-sdxl", "invalid_body"],
    ["null", "null", "invalid_body"],
    ["no allowed_apps", { token_expiration: 10 }, "invalid_body"],
    ["empty allowed_apps", { allowed_apps: [] }, "invalid_body"],
    ["allowed_apps not a list", { allowed_apps: "fast-sdxl" }, "invalid_body"],
    ["a non-string alias", { allowed_apps: [42] }, "invalid_body"],
    ["an app id instead of an alias", { allowed_apps: ["fal-ai/fast-sdxl"] }, "invalid_body"],
    ["a wildcard alias", { allowed_apps: ["*"] }, "invalid_body"],
    ["too many aliases", { allowed_apps: Array.from({ length: 17 }, (_, i) => `app-${i}`) }, "invalid_body"],
    ["a string expiration", { allowed_apps: ["fast-sdxl"], token_expiration: "120" }, "invalid_body"],
    ["a zero expiration", { allowed_apps: ["fast-sdxl"], token_expiration: 0 }, "invalid_body"],
    ["a negative expiration", { allowed_apps: ["fast-sdxl"], token_expiration: -5 }, "invalid_body"],
    ["a body over 16 KiB", { allowed_apps: ["fast-sdxl"], pad: "x".repeat(17 * 1024) }, "payload_too_large"],
  ])("%s -> %s", async (_name, body, code) => {
    expect((await refused(rewriteFalTokenRequest(tokenRequest(body), ctx()))).code).toBe(code);
  });

  test("a streamed body over the cap is cut off without trusting content-length", async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(4096).fill(32));
        if (pulled > 1000) controller.close();
      },
    });
    const request = new Request("http://app.test/api/fal/proxy", {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect((await refused(rewriteFalTokenRequest(request, ctx()))).code).toBe("payload_too_large");
    expect(pulled).toBeLessThan(10);
  });

  test("invalid UTF-8 and a missing body are invalid_body; GET is method_not_allowed", async () => {
    const bad = tokenRequest("", { body: new Uint8Array([0x7b, 0xff, 0x7d]) });
    expect((await refused(rewriteFalTokenRequest(bad, ctx()))).code).toBe("invalid_body");
    const empty = new Request("http://app.test/x", { method: "POST" });
    expect((await refused(rewriteFalTokenRequest(empty, ctx()))).code).toBe("invalid_body");
    const get = new Request("http://app.test/x");
    const error = await refused(rewriteFalTokenRequest(get, ctx()));
    expect(error.code).toBe("method_not_allowed");
    expect(error.headers.allow).toBe("POST");
  });
});

describe("the token route", () => {
  function routeCtx(
    options: { issuer?: boolean; allowedEndpoints?: string[]; narrowing?: string[] } = {},
  ): TokenRouteContext {
    return {
      ...ctx(options.allowedEndpoints, options.narrowing),
      issuer: options.issuer === false ? null : createTokenIssuer({ secret: SECRET, singleUse: false }),
    };
  }
  const post = (body: unknown, query = "") =>
    new Request(`http://app.test/api/fal/proxy/token${query}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const falBody = (result: TokenRouteResult) => (result.type === "fal" ? result.falTokenBody : null);

  test("isTokenPath matches paths ending in /token", () => {
    expect(isTokenPath("/api/fal/proxy/token")).toBe(true);
    expect(isTokenPath("/api/fal/proxy/token/")).toBe(true);
    expect(isTokenPath("/api/fal/proxy")).toBe(false);
    expect(isTokenPath("/api/fal/proxy/tokens")).toBe(false);
  });

  test("mints a falgate token (a JSON string) scoped to the principal and the app the official client names", async () => {
    const c = routeCtx();
    const result = await handleTokenRoute(post({ app: "fal-ai/fast-lcm-diffusion/realtime" }), c);
    if (result.type !== "falgate") throw new Error("expected a falgate token");
    const reply = await mintFalgateToken(result.issuer, { id: "user-1" }, result.app);
    expect(reply.status).toBe(200);
    expect(reply.headers).toContainEqual(["cache-control", "no-store"]);
    const token = JSON.parse(reply.body ?? "null");
    expect(typeof token).toBe("string");
    const claims = await c.issuer!.verify(token, { app: "fal-ai/fast-lcm-diffusion/realtime" });
    expect(claims).toMatchObject({ sub: "user-1", apps: ["fal-ai/fast-lcm-diffusion/realtime"] });
  });

  test("?app= works too, and type=fal asks to forward a policed fal token request", async () => {
    const result = await handleTokenRoute(
      post(undefined, "?app=fal-ai/fast-sdxl/realtime&type=fal"),
      routeCtx(),
    );
    expect(falBody(result)).toBe('{"allowed_apps":["fast-sdxl"],"token_expiration":120}');
  });

  test("without falgate keys it mints fal tokens; asking for a falgate token is not_found", async () => {
    const c = routeCtx({ issuer: false });
    expect(falBody(await handleTokenRoute(post({ app: "fal-ai/fast-sdxl" }), c))).not.toBeNull();
    expect(
      (await refused(handleTokenRoute(post({ app: "fal-ai/fast-sdxl", type: "falgate" }), c))).code,
    ).toBe("not_found");
  });

  test("apps the policy or the principal may not use are refused for both kinds", async () => {
    const c = routeCtx({ allowedEndpoints: ["fal-ai/fast-sdxl"], narrowing: ["fal-ai/*"] });
    for (const type of ["fal", "falgate"]) {
      expect((await refused(handleTokenRoute(post({ app: "fal-ai/flux/dev", type }), c))).code).toBe(
        "endpoint_not_allowed",
      );
      expect((await refused(handleTokenRoute(post({ app: "someone/fast-sdxl", type }), c))).code).toBe(
        "endpoint_not_allowed",
      );
    }
  });

  test.each<[string, Request, string]>([
    ["GET", new Request("http://app.test/api/fal/proxy/token?app=fal-ai/x"), "method_not_allowed"],
    ["no app", post({}), "invalid_body"],
    ["a single segment", post({ app: "fast-sdxl" }), "invalid_body"],
    ["a traversal", post({ app: "fal-ai/../admin" }), "invalid_body"],
    ["an unknown type", post({ app: "fal-ai/x", type: "root" }), "invalid_body"],
    ["a JSON array", post([]), "invalid_body"],
  ])("%s -> %s", async (_name, request, code) => {
    expect((await refused(handleTokenRoute(request, routeCtx()))).code).toBe(code);
  });
});
