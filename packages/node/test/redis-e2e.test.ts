import type { Logger } from "@falgate/core";
import { startMockFal } from "@falgate/mock-fal";
import { createRedisStore } from "@falgate/redis";
import { startRedis } from "@falgate/testkit";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type RunningServer, startServer } from "../src/index.js";

const SECRET = "s".repeat(32);
const APP = "fal-ai/echo";
const silent: Logger = { warn: () => undefined, error: () => undefined };
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Tunnel {
  ws: WebSocket;
  frames: string[];
  opened: Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
}

function open(server: RunningServer, token: string): Tunnel {
  const ws = new WebSocket(
    `${server.url.replace("http", "ws")}/api/fal/proxy/${APP}/realtime?fal_jwt_token=${token}`,
  );
  cleanups.push(() => ws.terminate());
  const frames: string[] = [];
  ws.on("message", (data) => frames.push(String(data)));
  return {
    ws,
    frames,
    opened: new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    }),
    closed: new Promise((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: String(reason) })),
    ),
  };
}

async function token(server: RunningServer): Promise<string> {
  const res = await fetch(`${server.url}/api/fal/proxy/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ app: APP }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as string;
}

describe("two falgate instances sharing Redis", () => {
  it("a token minted by A opens a tunnel once on B and is refused on A; the tunnel cap is cluster-wide", async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.close());
    const mock = await startMockFal();
    cleanups.push(() => mock.close());
    const servers: RunningServer[] = [];
    for (let i = 0; i < 2; i++) {
      const client = new Redis({ path: redis.socket });
      cleanups.push(() => client.disconnect());
      const server = await startServer({
        port: 0,
        upstream: mock.url,
        credentials: mock.key,
        allowUnauthenticated: true,
        logger: silent,
        store: createRedisStore(client),
        tokens: { secret: SECRET },
        tunnel: { maxPerPrincipal: 1 },
      });
      cleanups.push(() => server.close());
      servers.push(server);
    }
    const [a, b] = servers as [RunningServer, RunningServer];

    const shared = await token(a);
    const first = open(b, shared);
    await first.opened;
    const echoed = new Promise<string>((resolve) =>
      first.ws.once("message", (data) => resolve(String(data))),
    );
    first.ws.send("hello");
    expect(await echoed).toBe("hello");

    // B holds the principal's only slot, so a fresh token is turned away on A.
    const second = open(a, await token(a));
    await second.opened;
    expect((await second.closed).code).toBe(1013);
    expect(JSON.parse(second.frames[0] ?? "null")).toMatchObject({ error: "RATE_LIMITED" });

    // Closing B's tunnel gives the slot back across the cluster.
    first.ws.close();
    await first.closed;
    const observer = new Redis({ path: redis.socket });
    cleanups.push(() => observer.disconnect());
    await expect.poll(() => createRedisStore(observer).slots("tunnel:anonymous")).toBe(0);

    // The token B spent is refused on A.
    const replay = open(a, shared);
    await replay.opened;
    expect(await replay.closed).toEqual({ code: 1008, reason: "Unauthorized" });
    expect(JSON.parse(replay.frames[0] ?? "null")).toMatchObject({ status: "error", error: "Unauthorized" });

    const third = open(a, await token(a));
    await third.opened;
    const again = new Promise<string>((resolve) => third.ws.once("message", (data) => resolve(String(data))));
    third.ws.send("again");
    expect(await again).toBe("again");
  });
});
