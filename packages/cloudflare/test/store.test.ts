import { join } from "node:path";
import type { Store } from "@falgate/core";
import type { Cell } from "@falgate/core/binding";
import { bundleWorker, describeStore, WORKER_COMPATIBILITY } from "@falgate/testkit";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDurableObjectStore, type DurableObjectStorageLike, FalgateStore } from "../src/index.js";

let bundled: Promise<string> | undefined;
/** The fixture Worker (store + Durable Object), bundled from sources once per file. */
function script(): Promise<string> {
  bundled ??= bundleWorker(join(__dirname, "fixtures/store-worker.ts"));
  return bundled;
}

/** Runs the fixture in real workerd with the Durable Object bound as users bind it (SQLite-backed). */
async function startStoreWorker(): Promise<Miniflare> {
  const miniflare = new Miniflare({
    modules: true,
    script: await script(),
    compatibilityDate: WORKER_COMPATIBILITY.date,
    compatibilityFlags: [...WORKER_COMPATIBILITY.flags],
    cf: false,
    durableObjects: { FALGATE_STORE: { className: "FalgateStore", useSQLite: true } },
  });
  await miniflare.ready;
  return miniflare;
}

/** A Store whose every call runs `createDurableObjectStore(env.FALGATE_STORE)` inside workerd. */
function remoteStore(miniflare: Miniflare): Store {
  const call =
    (method: keyof Store) =>
    async (...args: unknown[]): Promise<never> => {
      const response = await miniflare.dispatchFetch("http://store.test/store", {
        method: "POST",
        body: JSON.stringify({ method, args }),
      });
      if (!response.ok) throw new Error(`worker answered ${response.status}: ${await response.text()}`);
      return ((await response.json()) as { result: never }).result;
    };
  const methods = [
    "addOnce",
    "hit",
    "acquire",
    "release",
    "renew",
    "move",
    "slots",
    "add",
    "total",
    "admit",
    "settle",
  ] as const;
  return Object.fromEntries(methods.map((m) => [m, call(m)])) as unknown as Store;
}

describeStore("Durable Object in workerd", async () => {
  const miniflare = await startStoreWorker();
  return {
    // Each handle stands for another Worker isolate: separate callers, one object.
    connect: () => remoteStore(miniflare),
    reset: async () => {},
    close: () => miniflare.dispose(),
  };
});

describe("the Durable Object store", () => {
  let miniflare: Miniflare;
  beforeAll(async () => {
    miniflare = await startStoreWorker();
  });
  afterAll(async () => {
    await miniflare?.dispose();
  });

  test("a limiter running inside workerd admits, counts and refuses through the object", async () => {
    const answers = [];
    for (let i = 0; i < 5; i++) {
      const response = await miniflare.dispatchFetch("http://store.test/admit?run=one", { method: "POST" });
      answers.push({ status: response.status, body: (await response.json()) as Record<string, unknown> });
    }
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    expect(answers[0]!.body.headers).toMatchObject({
      "ratelimit-policy": '"rate";q=3;w=60, "concurrency";q=2;qu="concurrent-requests"',
      ratelimit: '"rate";r=2, "concurrency";r=1',
    });
    expect(answers[3]!.body).toMatchObject({
      code: "rate_limited",
      headers: { "retry-after": expect.any(String) },
    });
  });

  test("state lives in the object's storage: a new Worker instance sees it", async () => {
    const first = remoteStore(miniflare);
    expect(await first.add("persist:sum", 2, 60_000)).toBe(2);
    expect(await first.acquire("persist:slots", "a", 1, 60_000)).toBe(true);
    const second = remoteStore(miniflare);
    expect(await second.total("persist:sum")).toBe(2);
    expect(await second.acquire("persist:slots", "b", 1, 60_000)).toBe(false);
  });

  test("the object refuses what is not a store operation", async () => {
    const response = await miniflare.dispatchFetch("http://store.test/store", {
      method: "POST",
      body: JSON.stringify({ method: "admit", args: [null] }),
    });
    expect(response.ok).toBe(false);
  });

  test("createDurableObjectStore checks its binding", () => {
    expect(() => createDurableObjectStore({} as never)).toThrow(/namespace binding/);
  });
});

describe("FalgateStore.alarm", () => {
  /** An in-memory stand-in for `ctx.storage`, enough to watch the sweep. */
  function fakeStorage(): DurableObjectStorageLike & { data: Map<string, unknown>; alarm: number | null } {
    const data = new Map<string, unknown>();
    const storage = {
      data,
      alarm: null as number | null,
      get: async <T>(keys: string[]) =>
        new Map(keys.filter((k) => data.has(k)).map((k) => [k, data.get(k) as T])),
      put: async <T>(entries: Record<string, T>) => {
        for (const [k, v] of Object.entries(entries)) data.set(k, v);
      },
      delete: async (keys: string[]) => keys.filter((k) => data.delete(k)).length,
      list: async <T>(options: { startAfter?: string; limit?: number } = {}) => {
        const keys = [...data.keys()]
          .sort()
          .filter((k) => options.startAfter === undefined || k > options.startAfter);
        return new Map(keys.slice(0, options.limit ?? keys.length).map((k) => [k, data.get(k) as T]));
      },
      setAlarm: async (at: number) => {
        storage.alarm = at;
      },
    };
    return storage;
  }

  test("sweeps expired entries, keeps live ones, and stops once nothing is left", async () => {
    const storage = fakeStorage();
    const object = new FalgateStore({ storage });
    const post = (op: unknown) =>
      object.fetch(
        new Request("https://falgate-store.internal/", { method: "POST", body: JSON.stringify(op) }),
      );
    expect((await post({ op: "addOnce", key: "live", ttlMs: 60_000 })).ok).toBe(true);
    expect(storage.alarm).not.toBeNull();
    const expired: Cell = { t: "once", exp: Date.now() - 1 };
    for (let i = 0; i < 1_500; i++) storage.data.set(`old:${String(i).padStart(4, "0")}`, expired);
    await object.alarm();
    expect([...storage.data.keys()]).toEqual(["live"]);
    storage.alarm = null;
    storage.data.set("live", expired);
    await object.alarm();
    expect(storage.data.size).toBe(0);
    expect(storage.alarm).toBeNull();
  });
});
