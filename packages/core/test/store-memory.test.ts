import { describe, expect, test } from "vitest";
import { createMemoryStore } from "../src/store/index.js";

describe("createMemoryStore", () => {
  test("addOnce remembers a key until its ttl passes", async () => {
    let t = 1_000;
    const store = createMemoryStore({ now: () => t });
    expect(await store.addOnce("a", 100)).toBe(true);
    expect(await store.addOnce("a", 100)).toBe(false);
    t += 100;
    expect(await store.addOnce("a", 100)).toBe(true);
  });

  test("hit allows a burst of `limit`, then refuses with the time until one more fits", async () => {
    let t = 60_000;
    const store = createMemoryStore({ now: () => t });
    for (let i = 0; i < 3; i++) expect((await store.hit("r", 3, 1_000, 1)).allowed).toBe(true);
    const refused = await store.hit("r", 3, 1_000, 1);
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.resetMs).toBeGreaterThan(0);
    t += refused.resetMs;
    expect((await store.hit("r", 3, 1_000, 1)).allowed).toBe(true);
  });

  test("slots are capped, released, renewed and expire", async () => {
    let t = 0;
    const store = createMemoryStore({ now: () => t });
    expect(await store.acquire("s", "1", 2, 50)).toBe(true);
    expect(await store.acquire("s", "2", 2, 50)).toBe(true);
    expect(await store.acquire("s", "3", 2, 50)).toBe(false);
    await store.release("s", "1");
    expect(await store.slots("s")).toBe(1);
    t = 40;
    expect(await store.renew("s", "2", 50)).toBe(true);
    t = 60;
    expect(await store.slots("s")).toBe(1);
    t = 100;
    expect(await store.slots("s")).toBe(0);
    expect(await store.renew("s", "2", 50)).toBe(false);
  });

  test("totals add up within their period and start over after it", async () => {
    let t = 0;
    const store = createMemoryStore({ now: () => t });
    expect(await store.add("b", 2.5, 1_000)).toBe(2.5);
    expect(await store.add("b", 1, 1_000)).toBe(3.5);
    t = 1_000;
    expect(await store.total("b")).toBe(0);
    expect(await store.add("b", 1, 1_000)).toBe(1);
  });
});
