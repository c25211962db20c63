import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  CALL_MESSAGE,
  createAccessLog,
  createFalgate,
  createLineLogger,
  type FalgateOptions,
  type LogLevel,
} from "../src/index.js";
import { jsonLine, prettyLine } from "../src/observe/line-logger.js";

const PROXY = "http://app.test/api/fal/proxy";
const SECRET = "access-log-test-secret-0123456789abcdef";
let mock: MockFal;

beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());

/** A falgate whose access log is rendered by a line logger into `lines`, in real calls against mock-fal. */
function logged(format: "pretty" | "json", options: FalgateOptions = {}) {
  const lines: Array<{ line: string; level: LogLevel }> = [];
  const logger = createLineLogger({ format, write: (line, level) => lines.push({ line, level }) });
  const falgate = createFalgate({
    credentials: mock.key,
    upstream: mock.url,
    logger,
    observers: [createAccessLog(logger)],
    authorize: (request) => {
      const user = request.headers.get("x-user");
      return user ? { id: user } : null;
    },
    tokens: { secret: SECRET },
    // fal tokens need the app named: `fal-ai/*` alone cannot pin an alias to its owner.
    allowedEndpoints: ["fal-ai/*", "fal-ai/fast-lcm"],
    ...options,
  });
  const call = (path: string, init: RequestInit & { target?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.target) headers.set("x-fal-target-url", init.target);
    return falgate.fetch(new Request(`${PROXY}${path}`, { ...init, headers })).then(async (response) => {
      await response.arrayBuffer();
      return response;
    });
  };
  return { lines, call };
}

const json = { "content-type": "application/json" };

describe("the access log", () => {
  test("JSON lines: one per call with decision, principal, endpoint, method, status, durations and bytes", async () => {
    const { lines, call } = logged("json");
    const body = JSON.stringify({ prompt: "a cat" });
    await call("", {
      method: "POST",
      target: "https://fal.run/fal-ai/fast-sdxl/turbo",
      headers: { ...json, "x-user": "alice" },
      body,
    });
    await call("", {
      method: "POST",
      target: "https://fal.run/other/app",
      headers: { ...json, "x-user": "alice" },
      body: "{}",
    });
    await call("", { method: "POST", target: "https://fal.run/fal-ai/fast-sdxl", headers: json, body: "{}" });
    await call("/token", {
      method: "POST",
      headers: { ...json, "x-user": "bob" },
      body: JSON.stringify({ app: "fal-ai/fast-lcm" }),
    });
    await call("/token", {
      method: "POST",
      headers: { ...json, "x-user": "bob" },
      body: JSON.stringify({ app: "fal-ai/fast-lcm", type: "fal" }),
    });

    const entries = lines.map(({ line, level }) => {
      expect(line.endsWith("\n")).toBe(true);
      expect(line.indexOf("\n")).toBe(line.length - 1);
      return { level, ...JSON.parse(line) };
    });
    const calls = entries.filter((e) => e.msg === CALL_MESSAGE);
    expect(calls).toHaveLength(5);
    const [forwarded, notAllowed, unauthorized, falgateToken, falToken] = calls;
    expect(forwarded).toMatchObject({
      level: "info",
      route: "proxy",
      decision: "forwarded",
      code: null,
      status: 200,
      method: "POST",
      principal: "alice",
      app: "fal-ai/fast-sdxl",
      endpoint: "fal-ai/fast-sdxl/turbo",
      action: "run",
      bytesIn: body.length,
      error: null,
    });
    expect(typeof forwarded.time).toBe("string");
    expect(Date.parse(forwarded.time)).not.toBeNaN();
    expect(forwarded.bytesOut).toBeGreaterThan(0);
    expect(forwarded.requestId).toMatch(/[0-9a-f-]{36}/);
    expect(forwarded.ms).toBeGreaterThanOrEqual(forwarded.upstreamMs);
    expect(forwarded.upstreamMs).toBeGreaterThan(0);
    expect(forwarded.falgateMs).toBeGreaterThan(0);
    expect(notAllowed).toMatchObject({ decision: "refused", code: "endpoint_not_allowed", status: 403 });
    expect(unauthorized).toMatchObject({ decision: "refused", code: "unauthenticated", principal: null });
    expect(falgateToken).toMatchObject({
      route: "token",
      decision: "answered",
      status: 200,
      principal: "bob",
      endpoint: "fal-ai/fast-lcm",
    });
    expect(falToken).toMatchObject({ route: "token", decision: "forwarded", status: 200, principal: "bob" });
  });

  test("pretty lines: aligned columns a person reads on a terminal", async () => {
    const { lines, call } = logged("pretty");
    await call("", {
      method: "POST",
      target: "https://fal.run/fal-ai/fast-sdxl",
      headers: { ...json, "x-user": "alice" },
      body: '{"prompt":"x"}',
    });
    await call("", {
      method: "POST",
      target: "https://fal.run/other/app",
      headers: { ...json, "x-user": "alice" },
      body: "{}",
    });
    await call("/token", {
      method: "POST",
      headers: { ...json, "x-user": "bob" },
      body: JSON.stringify({ app: "fal-ai/fast-lcm" }),
    });
    const text = lines.map((l) => l.line);
    expect(text).toHaveLength(3);
    expect(text[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}POST {4}200 {2}forwarded +fal-ai\/fast-sdxl +alice +[\d.]+m?s {2}in 14B {2}out \d+B {2}req [0-9a-f-]{36}\n$/,
    );
    expect(text[1]).toMatch(/ POST {4}403 {2}refused endpoint_not_allowed +other\/app +alice /);
    expect(text[2]).toMatch(/ POST {4}200 {2}token falgate +fal-ai\/fast-lcm +bob /);
    // Columns line up: the endpoint starts at the same offset on every line.
    const offsets = text.map((line, i) =>
      line.indexOf(["fal-ai/fast-sdxl", "other/app", "fal-ai/fast-lcm"][i]!),
    );
    expect(new Set(offsets).size).toBe(1);
  });

  test("5xx answers and cut-short calls are warnings", async () => {
    const { lines, call } = logged("json", { credentials: undefined, env: {} });
    await call("", {
      method: "POST",
      target: "https://fal.run/fal-ai/fast-sdxl",
      headers: { ...json, "x-user": "a" },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe("warn");
    expect(JSON.parse(lines[0]!.line)).toMatchObject({ code: "missing_credentials", status: 500 });
  });

  test("needs a logger with info()", () => {
    expect(() => createAccessLog({ warn: () => undefined, error: () => undefined })).toThrow(TypeError);
  });
});

describe("createLineLogger", () => {
  test("filters by level and validates its options", () => {
    const seen: string[] = [];
    const logger = createLineLogger({ format: "json", level: "warn", write: (line) => seen.push(line) });
    logger.debug("d");
    logger.info("i");
    logger.warn("w", { a: 1 });
    logger.error("e");
    expect(seen.map((line) => JSON.parse(line).msg)).toEqual(["w", "e"]);
    expect(() => createLineLogger({ format: "xml" as "json", write: () => undefined })).toThrow(TypeError);
    expect(() => createLineLogger({ level: "loud" as "info", write: () => undefined })).toThrow(TypeError);
    expect(() => createLineLogger({} as { write: () => void })).toThrow(TypeError);
  });

  test("JSON lines are valid JSON for any fields, one line each", () => {
    const cyclic: Record<string, unknown> = { name: "x" };
    cyclic.self = cyclic;
    const cases: Array<Record<string, unknown> | undefined> = [
      undefined,
      {},
      { text: 'quote " newline \n tab \t unicode \u2028 end' },
      { big: 10n, error: new Error("boom"), cyclic },
      { nested: { list: [1, "two", null] } },
    ];
    for (const fields of cases) {
      const line = jsonLine(0, "info", 'a "message"\n', fields);
      expect(line.endsWith("}\n")).toBe(true);
      expect(line.slice(0, -1)).not.toContain("\n");
      const parsed = JSON.parse(line);
      expect(parsed).toMatchObject({ time: "1970-01-01T00:00:00.000Z", level: "info", msg: 'a "message"\n' });
    }
    expect(JSON.parse(jsonLine(0, "warn", "m", { big: 10n, error: new Error("boom") }))).toMatchObject({
      big: "10",
      error: "Error: boom",
    });
  });

  test("pretty lines quote values that need it", () => {
    const line = prettyLine(0, "warn", "upstream request failed", {
      code: "ECONNREFUSED",
      detail: "a b",
      n: 3,
    });
    expect(line).toMatch(
      /^\d\d:\d\d:\d\d\.000 WARN {2}upstream request failed code=ECONNREFUSED detail="a b" n=3\n$/,
    );
  });
});
