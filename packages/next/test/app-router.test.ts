import { startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  describeConformance,
  describeFalClient,
  SAME_ORIGIN,
  silentLogger,
} from "@falgate/testkit";
import { NextRequest } from "next/server.js";
import { expect, test } from "vitest";
import { createFalgateHandler, type FalgateRouteHandlers } from "../src/index.js";
import { appRouterStarter, PATH } from "./starters.js";

/** The suite's options, plus the host the requests here name: not loopback, so listed (the DNS rebinding check). */
const withHost = (mock: Parameters<typeof conformanceOptions>[0]) => ({
  ...conformanceOptions(mock),
  allowedHosts: ["app.test"],
});

const start = appRouterStarter(NextRequest);

describeConformance({ name: "Next App Router with NextRequest", start });
describeFalClient({ name: "Next App Router with NextRequest", start });

test("exports every method a route file needs, all the same handler", () => {
  const route = createFalgateHandler({ credentials: "k", logger: silentLogger() });
  expect(Object.keys(route).sort()).toEqual(["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]);
  expect(new Set(Object.values(route)).size).toBe(1);
});

test("reads FAL_KEY from process.env at request time, and options.env on top of it", async () => {
  const mock = await startMockFal();
  const before = process.env.FAL_KEY;
  try {
    const { credentials: _unused, ...options } = withHost(mock);
    const call = (route: FalgateRouteHandlers) =>
      route.POST(
        new NextRequest(`http://app.test${PATH}`, {
          method: "POST",
          headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
          body: "{}",
        }),
      );
    const fromProcess = createFalgateHandler({ ...options, logger: silentLogger() });
    delete process.env.FAL_KEY;
    expect((await call(fromProcess)).status).toBe(500);
    process.env.FAL_KEY = mock.key;
    expect((await call(fromProcess)).status).toBe(200);

    process.env.FAL_KEY = "wrong-key-in-process-env";
    const fromOptions = createFalgateHandler({
      ...options,
      env: { FAL_KEY: mock.key },
      logger: silentLogger(),
    });
    expect((await call(fromOptions)).status).toBe(200);
    const seen = mock.requests.map((r) => r.headers.authorization);
    expect(seen).toEqual([`Key ${mock.key}`, `Key ${mock.key}`]);
  } finally {
    if (before === undefined) delete process.env.FAL_KEY;
    else process.env.FAL_KEY = before;
    await mock.close();
  }
});
