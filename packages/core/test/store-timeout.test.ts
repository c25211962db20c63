import { describe, expect, test } from "vitest";
import { checkStoreTimeout, createMemoryStore, type Store, withStoreTimeout } from "../src/store/index.js";

/** A memory store whose calls answer after `delay()` ms. */
function slowStore(delay: () => number): Store {
  const inner = createMemoryStore();
  const later =
    <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
    (...args: A) =>
      new Promise<R>((resolve, reject) => setTimeout(() => f(...args).then(resolve, reject), delay()));
  return Object.fromEntries(
    Object.entries(inner).map(([name, f]) => [
      name,
      later((f as (...a: unknown[]) => Promise<unknown>).bind(inner)),
    ]),
  ) as unknown as Store;
}

describe("withStoreTimeout", () => {
  test("a call slower than timeoutMs rejects, naming the store and the call", async () => {
    const store = withStoreTimeout(
      slowStore(() => 200),
      20,
      "Redis",
    );
    await expect(store.total("t")).rejects.toThrow("falgate: Redis did not answer (total) within 20 ms");
  });

  test("calls within timeoutMs answer as the store does", async () => {
    const store = withStoreTimeout(
      slowStore(() => 1),
      500,
      "Redis",
    );
    expect(await store.add("t", 2, 60_000)).toBe(2);
    expect(await store.acquire("s", "a", 1, 60_000)).toBe(true);
    expect(await store.slots("s")).toBe(1);
  });

  test("a slot taken after the caller stopped waiting is given back", async () => {
    let ms = 60;
    const inner = slowStore(() => ms);
    const store = withStoreTimeout(inner, 20, "Redis");
    await expect(store.acquire("s", "late", 1, 60_000)).rejects.toThrow("did not answer (acquire)");
    ms = 1;
    await expect.poll(() => inner.slots("s"), { timeout: 2_000 }).toBe(0);
    expect(await store.acquire("s", "next", 1, 60_000)).toBe(true);
  });

  test("timeoutMs must be a positive number", () => {
    expect(checkStoreTimeout(2000, "createRedisStore")).toBe(2000);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "2000"]) {
      expect(() => checkStoreTimeout(bad, "createRedisStore")).toThrow(
        "createRedisStore option `timeoutMs` must be a positive number",
      );
    }
  });
});
