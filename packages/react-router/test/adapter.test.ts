import { startMockFal } from "@falgate/mock-fal";
import { conformanceOptions, SAME_ORIGIN, silentLogger } from "@falgate/testkit";
import { afterEach, expect, test, vi } from "vitest";
import { createFalgate, createFalgateHandler, type RouteArgs } from "../src/index.js";

/** The suite's options, plus the host the requests here name: not loopback, so listed (the DNS rebinding check). */
const withHost = (mock: Parameters<typeof conformanceOptions>[0]) => ({
  ...conformanceOptions(mock),
  allowedHosts: ["app.test"],
});

const URL_ = "http://app.test/api/fal/proxy";
const ECHO = "https://fal.run/fal-ai/echo";

afterEach(() => {
  vi.unstubAllEnvs();
});

function call(target: string, init: RequestInit = {}): Request {
  return new Request(URL_, {
    method: "POST",
    body: "{}",
    ...init,
    headers: { ...SAME_ORIGIN, "x-fal-target-url": target, ...(init.headers as Record<string, string>) },
  });
}

test("hooks receive the loader/action arguments: params and the load context", async () => {
  const mock = await startMockFal();
  try {
    interface Args extends RouteArgs {
      context: { user: { id: string } | null };
    }
    const seen: Args[] = [];
    const falgate = createFalgate<Args>({
      ...withHost(mock),
      logger: silentLogger(),
      authorize: (_request, { args }) => {
        seen.push(args);
        return args.context.user;
      },
    });
    const { loader, action } = createFalgateHandler(falgate);
    const allowed = await action({
      request: call(ECHO, { headers: { "content-type": "application/json" } }),
      params: { "*": "" },
      context: { user: { id: "u1" } },
    });
    expect(allowed.status).toBe(200);
    expect(seen[0]?.params).toEqual({ "*": "" });

    const refused = await loader({
      request: call(`${ECHO}?x=1`, { method: "GET", body: null }),
      params: { "*": "" },
      context: { user: null },
    });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
  } finally {
    await mock.close();
  }
});

test("the platform env is process.env, read at request time; options.env wins", async () => {
  const mock = await startMockFal();
  try {
    const { credentials: _unused, ...options } = withHost(mock);
    const route = createFalgateHandler({ ...options, logger: silentLogger() });
    const missing = await route.action({ request: call(ECHO), params: {} });
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("missing_credentials");

    vi.stubEnv("FAL_KEY", mock.key);
    expect((await route.action({ request: call(ECHO), params: {} })).status).toBe(200);
    const seen = await mock.waitForRequest((r) => r.method === "POST");
    expect(seen.headers.authorization).toBe(`Key ${mock.key}`);

    mock.reset();
    const layered = createFalgateHandler({
      ...options,
      env: { FAL_KEY: "other:key" },
      logger: silentLogger(),
    });
    await layered.action({ request: call(ECHO), params: {} });
    expect((await mock.waitForRequest((r) => r.method === "POST")).headers.authorization).toBe(
      "Key other:key",
    );
  } finally {
    await mock.close();
  }
});

test("on Cloudflare, the Worker env and ctx come from the load context (context.cloudflare)", async () => {
  const mock = await startMockFal();
  try {
    const { credentials: _unused, ...options } = withHost(mock);
    const hooked: number[] = [];
    const route = createFalgateHandler({
      ...options,
      logger: silentLogger(),
      onResponse: async (info) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        hooked.push(info.status);
      },
    });
    const kept: Promise<unknown>[] = [];
    const response = await route.action({
      request: call(ECHO),
      params: {},
      context: {
        cloudflare: {
          env: { FAL_KEY: mock.key },
          ctx: { waitUntil: (p: Promise<unknown>) => void kept.push(p) },
        },
      },
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect((await mock.waitForRequest((r) => r.method === "POST")).headers.authorization).toBe(
      `Key ${mock.key}`,
    );
    await vi.waitFor(() => expect(kept).toHaveLength(1));
    await Promise.all(kept);
    expect(hooked).toEqual([200]);
  } finally {
    await mock.close();
  }
});
