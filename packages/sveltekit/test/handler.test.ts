import { EventEmitter } from "node:events";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { conformanceOptions, SAME_ORIGIN, silentLogger } from "@falgate/testkit";
import type { RequestEvent } from "@sveltejs/kit";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createFalgate, createFalgateHandler } from "../src/index.js";

/** The suite's options, plus the host the requests here name: not loopback, so listed (the DNS rebinding check). */
const withHost = (mock: Parameters<typeof conformanceOptions>[0]) => ({
  ...conformanceOptions(mock),
  allowedHosts: ["app.test"],
});

const PROXY = "http://app.test/api/fal/proxy";
const ECHO = "https://fal.run/fal-ai/echo";

/** The parts of a `RequestEvent` a `+server.ts` handler gets that these tests use. */
function eventFor(request: Request, extra: { locals?: object; platform?: object } = {}): RequestEvent {
  return {
    request,
    url: new URL(request.url),
    locals: extra.locals ?? {},
    platform: extra.platform,
    params: { path: "" },
  } as unknown as RequestEvent;
}

describe("createFalgateHandler (SvelteKit request handlers)", () => {
  let mock: MockFal;
  beforeAll(async () => {
    mock = await startMockFal();
  });
  afterAll(() => mock.close());
  afterEach(() => mock.reset());

  test("exports a handler for every method falgate serves, all the same function", () => {
    const handlers = createFalgateHandler({ ...withHost(mock), logger: silentLogger() });
    expect(Object.keys(handlers).sort()).toEqual([
      "DELETE",
      "GET",
      "HEAD",
      "OPTIONS",
      "PATCH",
      "POST",
      "PUT",
    ]);
    expect(new Set(Object.values(handlers)).size).toBe(1);
  });

  test("hooks get SvelteKit's event: what hooks.server.ts put on locals is there", async () => {
    const seen: unknown[] = [];
    const { POST } = createFalgateHandler(
      createFalgate({
        ...withHost(mock),
        logger: silentLogger(),
        authorize: (_request, { event }) => {
          seen.push(event.locals);
          return (event.locals as { user?: { id: string } }).user ?? null;
        },
      }),
    );
    const call = (locals: object) =>
      POST(
        eventFor(new Request(PROXY, { method: "POST", headers: { "x-fal-target-url": ECHO }, body: "{}" }), {
          locals,
        }),
      );
    expect((await call({ user: { id: "u1" } })).status).toBe(200);
    expect((await call({ user: null })).status).toBe(401);
    expect(seen).toEqual([{ user: { id: "u1" } }, { user: null }]);
    expect(mock.requests).toHaveLength(1);
  });

  test("reads process.env at request time; options.env is layered over it", async () => {
    const { credentials: _unused, ...options } = withHost(mock);
    const { POST } = createFalgateHandler({ ...options, logger: silentLogger() });
    const call = () =>
      POST(
        eventFor(
          new Request(PROXY, {
            method: "POST",
            headers: { ...SAME_ORIGIN, "x-fal-target-url": ECHO },
            body: "{}",
          }),
        ),
      );
    const before = process.env.FAL_KEY;
    try {
      delete process.env.FAL_KEY;
      expect((await call()).status).toBe(500);
      process.env.FAL_KEY = mock.key;
      expect((await call()).status).toBe(200);
      expect((await mock.waitForRequest(() => true)).headers.authorization).toBe(`Key ${mock.key}`);
    } finally {
      if (before === undefined) delete process.env.FAL_KEY;
      else process.env.FAL_KEY = before;
    }
  });

  test("adapter-node's platform.req: its socket closing while fal works aborts the call to fal", async () => {
    mock.fault({ kind: "delay", delayMs: 60_000, path: /^\/fal-ai\/echo$/ });
    const socket = Object.assign(new EventEmitter(), { destroyed: false });
    const { POST } = createFalgateHandler({ ...withHost(mock), logger: silentLogger() });
    const pending = POST(
      eventFor(
        new Request(PROXY, {
          method: "POST",
          headers: { ...SAME_ORIGIN, "x-fal-target-url": ECHO },
          body: "{}",
        }),
        { platform: { req: { socket } } },
      ),
    );
    await mock.waitForRequest((r) => r.path === "/fal-ai/echo" && r.complete);
    expect(socket.listenerCount("close")).toBe(1);
    socket.emit("close");
    const seen = await mock.waitForRequest((r) => r.aborted, 10_000);
    expect(seen.path).toBe("/fal-ai/echo");
    await pending;
    expect(socket.listenerCount("close")).toBe(0);
  });

  test("once fal has answered, the socket listener is released (keep-alive sockets do not collect them)", async () => {
    const socket = Object.assign(new EventEmitter(), { destroyed: false });
    const { GET } = createFalgateHandler({ ...withHost(mock), logger: silentLogger() });
    for (let i = 0; i < 3; i++) {
      const response = await GET(
        eventFor(new Request(PROXY, { headers: { ...SAME_ORIGIN, "x-fal-target-url": `${ECHO}?i=${i}` } }), {
          platform: { req: { socket } },
        }),
      );
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    expect(socket.listenerCount("close")).toBe(0);
  });
});
