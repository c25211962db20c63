import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { conformanceOptions, SAME_ORIGIN, silentLogger } from "@falgate/testkit";
import type { APIContext } from "astro";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createFalgate, createFalgateHandler } from "../src/index.js";

/** The suite's options, plus the host the requests here name: not loopback, so listed (the DNS rebinding check). */
const withHost = (mock: Parameters<typeof conformanceOptions>[0]) => ({
  ...conformanceOptions(mock),
  allowedHosts: ["app.test"],
});

const PROXY = "http://app.test/api/fal/proxy";
const ECHO = "https://fal.run/fal-ai/echo";

/** The parts of an `APIContext` an endpoint gets that these tests use. */
function contextFor(request: Request, locals: object = {}): APIContext {
  return { request, url: new URL(request.url), locals, params: { path: undefined } } as unknown as APIContext;
}

describe("createFalgateHandler (Astro API route)", () => {
  let mock: MockFal;
  beforeAll(async () => {
    mock = await startMockFal();
  });
  afterAll(() => mock.close());
  afterEach(() => mock.reset());

  test("exports ALL and every method falgate serves, all the same function", () => {
    const routes = createFalgateHandler({ ...withHost(mock), logger: silentLogger() });
    expect(Object.keys(routes).sort()).toEqual([
      "ALL",
      "DELETE",
      "GET",
      "HEAD",
      "OPTIONS",
      "PATCH",
      "POST",
      "PUT",
    ]);
    expect(new Set(Object.values(routes)).size).toBe(1);
  });

  test("hooks get Astro's APIContext: what the middleware put on locals is there", async () => {
    const seen: unknown[] = [];
    const { ALL } = createFalgateHandler(
      createFalgate({
        ...withHost(mock),
        logger: silentLogger(),
        authorize: (_request, { context }) => {
          seen.push(context.locals);
          return (context.locals as { user?: { id: string } }).user ?? null;
        },
      }),
    );
    const call = async (locals: object) =>
      ALL(
        contextFor(
          new Request(PROXY, { method: "POST", headers: { "x-fal-target-url": ECHO }, body: "{}" }),
          locals,
        ),
      ) as Promise<Response>;
    expect((await call({ user: { id: "u1" } })).status).toBe(200);
    expect((await call({ user: null })).status).toBe(401);
    expect(seen).toEqual([{ user: { id: "u1" } }, { user: null }]);
    expect(mock.requests).toHaveLength(1);
  });

  test("reads process.env at request time", async () => {
    const { credentials: _unused, ...options } = withHost(mock);
    const { ALL } = createFalgateHandler({ ...options, logger: silentLogger() });
    const call = async () =>
      (await ALL(
        contextFor(
          new Request(PROXY, {
            method: "POST",
            headers: { ...SAME_ORIGIN, "x-fal-target-url": ECHO },
            body: "{}",
          }),
        ),
      )) as Response;
    const before = process.env.FAL_KEY;
    try {
      delete process.env.FAL_KEY;
      expect((await call()).status).toBe(500);
      process.env.FAL_KEY = mock.key;
      expect((await call()).status).toBe(200);
    } finally {
      if (before === undefined) delete process.env.FAL_KEY;
      else process.env.FAL_KEY = before;
    }
  });
});
