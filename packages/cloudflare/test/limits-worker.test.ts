import { join } from "node:path";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { bundleWorker, WORKER_COMPATIBILITY } from "@falgate/testkit";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, expect, test } from "vitest";

/*
 * Limits on Workers: the Worker adapter with its limits counted in the Durable Object store, in real workerd. Two
 * Miniflare Workers would be two deployments; one Worker's requests all meet in the one named object, which is
 * what makes the limits hold across isolates.
 */

let mock: MockFal;
let worker: Miniflare;

beforeAll(async () => {
  mock = await startMockFal({ runMs: 5, billableUnits: { "fal-ai/fast-sdxl": 1 } });
  worker = new Miniflare({
    modules: true,
    script: await bundleWorker(join(__dirname, "fixtures/limits-worker.ts")),
    compatibilityDate: WORKER_COMPATIBILITY.date,
    compatibilityFlags: [...WORKER_COMPATIBILITY.flags],
    cf: false,
    bindings: { FAL_KEY: mock.key, FALGATE_UPSTREAM: mock.url },
    durableObjects: { FALGATE_STORE: { className: "FalgateStore", useSQLite: true } },
  });
  await worker.ready;
}, 60_000);
afterAll(async () => {
  await worker?.dispose();
  await mock?.close();
});

const call = (user: string) =>
  worker.dispatchFetch("http://proxy.test/api/fal/proxy", {
    method: "POST",
    headers: {
      "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl",
      "content-type": "application/json",
      "x-user": user,
    },
    body: '{"prompt":"a cat"}',
  });

test("the rate limit holds across 20 parallel requests, counted in the Durable Object; refusals never reach fal", async () => {
  const answers = await Promise.all(Array.from({ length: 20 }, () => call("alice")));
  const statuses = await Promise.all(
    answers.map(async (a) => ({
      status: a.status,
      code: ((await a.json()) as { error?: { code: string } }).error?.code,
    })),
  );
  expect(statuses.filter((s) => s.status === 200)).toHaveLength(5);
  expect(statuses.filter((s) => s.code === "rate_limited")).toHaveLength(15);
  expect(mock.requests.filter((r) => r.method === "POST" && r.host === "fal.run")).toHaveLength(5);
  expect(answers[0]!.headers.get("ratelimit-policy")).toContain('"rate";q=5;w=60');
});

test("spend from fal's billable units is counted in the object, and the budget refuses once spent", async () => {
  for (let i = 0; i < 4; i++) expect((await call("bob")).status).toBe(200);
  await expect
    .poll(async () => {
      const usage = await worker.dispatchFetch("http://proxy.test/api/fal/proxy/usage", {
        headers: { "x-user": "bob" },
      });
      return ((await usage.json()) as { budget: { spent: number } }).budget.spent;
    })
    .toBe(4);
  const refused = await call("bob");
  expect(refused.status).toBe(429);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("budget_exhausted");
});
