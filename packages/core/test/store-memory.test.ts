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

  describe("full of live single-use ids (issue 13, finding 2)", () => {
    /** Counts the values every Map and Set iterator hands out while `run` runs: a walk of the table shows here. */
    function iterationSteps(run: () => Promise<void>): Promise<number> {
      let steps = 0;
      const patched: Array<[object, PropertyKey, unknown]> = [];
      const count = (proto: object, name: PropertyKey) => {
        const original = Reflect.get(proto, name) as (this: unknown) => Iterator<unknown>;
        patched.push([proto, name, original]);
        Reflect.set(proto, name, function (this: unknown) {
          const it = original.call(this);
          const next = it.next.bind(it);
          it.next = () => {
            const r = next();
            if (!r.done) steps++;
            return r;
          };
          return it;
        });
      };
      for (const proto of [Map.prototype, Set.prototype]) {
        for (const name of [Symbol.iterator, "entries", "keys", "values"]) count(proto, name);
      }
      return run()
        .then(() => steps)
        .finally(() => {
          for (const [proto, name, original] of patched) Reflect.set(proto, name, original);
        });
    }

    test("further ids are refused without walking the store; ids expire in order and room comes back", async () => {
      let t = 0;
      const maxKeys = 5_000;
      const store = createMemoryStore({ now: () => t, maxKeys });
      // Monotone expiries, as a token issuer's are, but written out of order now and then.
      for (let i = 0; i < maxKeys; i++)
        expect(await store.addOnce(`jti:${i}`, 10_000 + (i % 7) * 3 + i)).toBe(true);
      const steps = await iterationSteps(async () => {
        for (let i = 0; i < 200; i++) {
          await expect(store.addOnce(`jti:new-${i}`, 10_000)).rejects.toMatchObject({ code: "rate_limited" });
        }
      });
      expect(steps).toBeLessThan(200);
      // A live id is never dropped to make room: its replay stays refused.
      expect(await store.addOnce("jti:0", 10_000)).toBe(false);
      // Once the earliest ids expire, exactly that much room comes back, still without a walk.
      t = 10_000 + 10;
      const after = await iterationSteps(async () => {
        let accepted = 0;
        for (let i = 0; i < 20; i++)
          if (await store.addOnce(`jti:later-${i}`, 10_000).catch(() => false)) accepted++;
        expect(accepted).toBeGreaterThan(0);
        expect(accepted).toBeLessThanOrEqual(20);
      });
      expect(after).toBeLessThan(100);
      expect(await store.addOnce(`jti:${maxKeys - 1}`, 10_000)).toBe(false);
    });

    test("other keys still make room: the oldest one goes, replay ids stay", async () => {
      const store = createMemoryStore({ maxKeys: 3 });
      expect(await store.addOnce("jti:a", 60_000)).toBe(true);
      await store.add("sum:1", 1, 60_000);
      await store.add("sum:2", 1, 60_000);
      expect(await store.addOnce("jti:b", 60_000)).toBe(true); // sum:1 went
      expect(await store.total("sum:1")).toBe(0);
      expect(await store.total("sum:2")).toBe(1);
      expect(await store.addOnce("jti:c", 60_000)).toBe(true); // sum:2 went
      await expect(store.addOnce("jti:d", 60_000)).rejects.toMatchObject({ code: "rate_limited" });
      expect(await store.addOnce("jti:a", 60_000)).toBe(false);
    });
  });
});
