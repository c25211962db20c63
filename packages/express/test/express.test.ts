import { createServer } from "node:http";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  describeConformance,
  describeFalClient,
  listen,
  SAME_ORIGIN,
  type StartHandler,
  silentLogger,
} from "@falgate/testkit";
import express5, { type ErrorRequestHandler } from "express";
import express4 from "express4";
import request from "supertest";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createFalgateHandler } from "../src/index.js";

const PATH = "/api/fal/proxy";
type Express = typeof express5;

/** Starts an Express app on an ephemeral port with the proxy mounted the way `mount` says. */
function starter(
  express: Express,
  mount: (app: ReturnType<Express>, handler: ReturnType<typeof createFalgateHandler>) => void,
): StartHandler {
  return async (options) => {
    const app = express();
    mount(app, createFalgateHandler({ ...options, logger: silentLogger() }));
    const server = await listen(createServer(app));
    return { url: `${server.origin}${PATH}`, close: server.close };
  };
}

const express5Use = starter(express5, (app, handler) => app.use(PATH, handler));
const express5Json = starter(express5, (app, handler) => {
  app.use(express5.json({ limit: "10mb" }));
  app.use(express5.urlencoded({ extended: false }));
  app.use(PATH, handler);
});
// Express 4 path syntax: `*` covers the mount and the token route below it.
const express4All = starter(express4, (app, handler) => app.all(`${PATH}*`, handler));

describeConformance({ name: "Express 5, app.use", start: express5Use });
describeConformance({ name: "Express 5 behind express.json()", start: express5Json });
describeConformance({ name: "Express 4, app.all(path*)", start: express4All });
describeFalClient({ name: "Express 5", start: express5Json });
describeFalClient({ name: "Express 4", start: express4All });

describe.each([
  ["Express 5", express5],
  ["Express 4", express4],
])("%s specifics", (_name, express) => {
  let mock: MockFal;
  beforeAll(async () => {
    mock = await startMockFal();
  });
  afterAll(() => mock.close());
  afterEach(() => mock.reset());

  /** An app that records whether anything after the proxy ran. */
  function appWith(handler: ReturnType<typeof createFalgateHandler>, mountPath = PATH) {
    const after = { next: 0, error: 0 };
    const app = express();
    app.use(mountPath, handler);
    app.use((_req, res) => {
      after.next++;
      res.status(418).end();
    });
    const onError: ErrorRequestHandler = (_err, _req, res, _next) => {
      after.error++;
      res.status(599).end();
    };
    app.use(onError);
    return { app, after };
  }

  test("answers, never falls through to next() and never hands its own errors to error middleware", async () => {
    const { app, after } = appWith(
      createFalgateHandler({ ...conformanceOptions(mock), logger: silentLogger() }),
    );
    const ok = await request(app)
      .post(PATH)
      .set(SAME_ORIGIN)
      .set("x-fal-target-url", "https://fal.run/fal-ai/echo")
      .send({ prompt: "x" });
    expect(ok.status).toBe(200);
    const refused = await request(app).post(PATH).set(SAME_ORIGIN).send({});
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("missing_target");
    const unauthenticated = await request(app)
      .get(PATH)
      .set("x-fal-target-url", "https://fal.run/fal-ai/echo");
    expect(unauthenticated.status).toBe(401);
    expect(after).toEqual({ next: 0, error: 0 });
  });

  test("mounts at any path; a browser Origin equal to the app's own origin counts as same-origin", async () => {
    const { app } = appWith(
      createFalgateHandler({ ...conformanceOptions(mock), logger: silentLogger() }),
      "/custom/fal",
    );
    const server = await listen(createServer(app));
    try {
      const call = (origin: string) =>
        request(server.origin)
          .post("/custom/fal")
          .set("origin", origin)
          .set("x-fal-target-url", "https://fal.run/fal-ai/echo")
          .send({});
      const same = await call(server.origin);
      expect(same.status).toBe(200);
      const other = await call("http://127.0.0.1:1");
      expect(other.status).toBe(403);
      expect(other.body.error.code).toBe("origin_not_allowed");
      expect(mock.requests).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  test("trustProxy: the same-origin check uses x-forwarded-proto/host only when enabled", async () => {
    const call = (trustProxy: boolean) => {
      const { app } = appWith(
        // The public name the proxy forwards as x-forwarded-host is listed, as a deployment would (DNS rebinding check).
        createFalgateHandler({
          ...conformanceOptions(mock),
          trustProxy,
          allowedHosts: ["app.test"],
          logger: silentLogger(),
        }),
      );
      return request(app)
        .post(PATH)
        .set({ origin: "https://app.test", "x-forwarded-proto": "https", "x-forwarded-host": "app.test" })
        .set("x-fal-target-url", "https://fal.run/fal-ai/echo")
        .send({});
    };
    const behindProxy = await call(true);
    expect(behindProxy.status).toBe(200);
    const direct = await call(false);
    expect(direct.status).toBe(403);
    expect(direct.body.error.code).toBe("origin_not_allowed");
  });

  test("reads process.env at request time when no env or credentials are given", async () => {
    const { credentials: _unused, ...options } = conformanceOptions(mock);
    const { app } = appWith(createFalgateHandler({ ...options, logger: silentLogger() }));
    const before = process.env.FAL_KEY;
    try {
      delete process.env.FAL_KEY;
      const missing = await request(app)
        .post(PATH)
        .set(SAME_ORIGIN)
        .set("x-fal-target-url", "https://fal.run/fal-ai/echo")
        .send({});
      expect(missing.status).toBe(500);
      expect(missing.body.error.code).toBe("missing_credentials");
      process.env.FAL_KEY = mock.key;
      const ok = await request(app)
        .post(PATH)
        .set(SAME_ORIGIN)
        .set("x-fal-target-url", "https://fal.run/fal-ai/echo")
        .send({});
      expect(ok.status).toBe(200);
      expect((await mock.waitForRequest(() => true)).headers.authorization).toBe(`Key ${mock.key}`);
    } finally {
      if (before === undefined) delete process.env.FAL_KEY;
      else process.env.FAL_KEY = before;
    }
  });

  test("options.env is layered over process.env: its names win, the others still come from process.env", async () => {
    const { credentials: _unused, ...options } = conformanceOptions(mock);
    const seenEnv: Array<[unknown, unknown]> = [];
    const handler = createFalgateHandler({
      ...options,
      env: { FAL_KEY: mock.key },
      authorize: (_req, { env }) => {
        seenEnv.push([env.FAL_KEY, env.FALGATE_TEST_LAYER]);
        return { id: "user" };
      },
      logger: silentLogger(),
    });
    const { app } = appWith(handler);
    const before = { key: process.env.FAL_KEY, layer: process.env.FALGATE_TEST_LAYER };
    try {
      process.env.FAL_KEY = "wrong-key-in-process-env";
      process.env.FALGATE_TEST_LAYER = "from process.env";
      const ok = await request(app)
        .post(PATH)
        .set("x-fal-target-url", "https://fal.run/fal-ai/echo")
        .send({});
      expect(ok.status).toBe(200);
      expect(seenEnv).toEqual([[mock.key, "from process.env"]]);
      expect((await mock.waitForRequest(() => true)).headers.authorization).toBe(`Key ${mock.key}`);
    } finally {
      for (const [name, value] of [
        ["FAL_KEY", before.key],
        ["FALGATE_TEST_LAYER", before.layer],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
