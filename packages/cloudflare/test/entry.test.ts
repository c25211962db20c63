import { startMockFal } from "@falgate/mock-fal";
import { conformanceOptions, SAME_ORIGIN, silentLogger } from "@falgate/testkit";
import { expect, test } from "vitest";
import { createFalgateHandler } from "../src/index.js";

// The entry is portable: these checks call its fetch directly, as the Workers runtime does
// (worker.test.ts runs it in workerd).

/** The host `call()` names: not loopback, so the options list it in `allowedHosts` (the DNS rebinding check). */
const HOST = "proxy.test";

function call(): Request {
  return new Request(`http://${HOST}/api/fal/proxy`, {
    method: "POST",
    headers: { ...SAME_ORIGIN, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
    body: "{}",
  });
}

test("options built from the bindings run once per bindings object, not per request", async () => {
  const mock = await startMockFal();
  try {
    const { credentials: _unused, ...suite } = conformanceOptions(mock);
    const options = { ...suite, allowedHosts: [HOST] };
    const seen: object[] = [];
    const worker = createFalgateHandler<{ FAL_KEY: string }>((env) => {
      seen.push(env);
      return { ...options, logger: silentLogger() };
    });
    const bindings = { FAL_KEY: mock.key };
    expect((await worker.fetch(call(), bindings)).status).toBe(200);
    expect((await worker.fetch(call(), bindings)).status).toBe(200);
    expect(seen).toEqual([bindings]);
    const other = { FAL_KEY: mock.key };
    expect((await worker.fetch(call(), other)).status).toBe(200);
    expect(seen).toHaveLength(2);
  } finally {
    await mock.close();
  }
});

test("the key comes from the bindings, and options.env wins over them", async () => {
  const mock = await startMockFal();
  try {
    const { credentials: _unused, ...suite } = conformanceOptions(mock);
    const options = { ...suite, allowedHosts: [HOST] };
    const fromBindings = createFalgateHandler({ ...options, logger: silentLogger() });
    expect((await fromBindings.fetch(call(), { FAL_KEY: mock.key })).status).toBe(200);
    const missing = await fromBindings.fetch(call(), {});
    expect(missing.status).toBe(500);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("missing_credentials");

    const fromOptions = createFalgateHandler({
      ...options,
      env: { FAL_KEY: mock.key },
      logger: silentLogger(),
    });
    expect((await fromOptions.fetch(call(), { FAL_KEY: "wrong-key-in-bindings" })).status).toBe(200);
    expect(mock.requests.map((r) => r.headers.authorization)).toEqual([`Key ${mock.key}`, `Key ${mock.key}`]);
  } finally {
    await mock.close();
  }
});

test("a bad option surfaces as a TypeError naming it (what `wrangler tail` shows)", async () => {
  const worker = createFalgateHandler(() => ({ maxBodySize: -1 }));
  await expect(worker.fetch(call(), {})).rejects.toThrow(/maxBodySize/);
});
