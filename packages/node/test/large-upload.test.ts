import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "@falgate/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type RunningServer, startServer } from "../src/index.js";

const MiB = 1024 * 1024;
const TOTAL_MIB = 200;
const silent: Logger = { warn: () => undefined, error: () => undefined };

type PeerMessage =
  | { type: "ready"; url: string }
  | { type: "upstream"; sha256: string; bytes: number; authorization?: string }
  | { type: "done"; status?: number; expected?: string; echoed?: string; bytes?: number; error?: string };

// Client and upstream live in a child process: this process then holds only the proxy, so its RSS is the
// proxy's memory (plus vitest's idle baseline).
let peer: ChildProcess;
let server: RunningServer;
const inbox: PeerMessage[] = [];
const waiters: Array<() => void> = [];

function next<T extends PeerMessage["type"]>(type: T): Promise<Extract<PeerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const index = inbox.findIndex((m) => m.type === type);
      if (index === -1) return false;
      resolve(inbox.splice(index, 1)[0] as Extract<PeerMessage, { type: T }>);
      return true;
    };
    if (check()) return;
    const onExit = () => reject(new Error("upload peer exited"));
    peer.once("exit", onExit);
    waiters.push(() => {
      if (check()) peer.off("exit", onExit);
      else waiters.push(() => check());
    });
  });
}

beforeAll(async () => {
  peer = fork(fileURLToPath(new URL("./fixtures/upload-peer.mjs", import.meta.url)), {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  peer.on("message", (message: PeerMessage) => {
    inbox.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  const { url } = await next("ready");
  server = await startServer({
    port: 0,
    upstream: url,
    credentials: "test-key",
    allowUnauthenticated: true,
    maxBodySize: 256 * MiB,
    logger: silent,
  });
});

afterAll(async () => {
  await server?.close();
  if (peer && peer.exitCode === null) {
    const exited = new Promise((resolve) => peer.once("exit", resolve));
    peer.send({ type: "exit" });
    await exited;
  }
});

it("streams a 200 MiB upload (and its 200 MiB echo) through the server with its memory staying flat", async () => {
  const proxy = `${server.url}/api/fal/proxy`;
  // Warm every layer up first, so lazily allocated pools do not count as growth.
  peer.send({ type: "upload", url: proxy, totalMiB: 1 });
  expect(await next("done")).toMatchObject({ status: 200, bytes: MiB });
  await next("upstream");

  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  // Sampling, not timing: the bound is on memory, however long the transfer takes.
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  try {
    peer.send({ type: "upload", url: proxy, totalMiB: TOTAL_MIB });
    const done = await next("done");
    const upstream = await next("upstream");
    expect(done.error).toBeUndefined();
    expect(done.status).toBe(200);
    expect(done.bytes).toBe(TOTAL_MIB * MiB);
    expect(done.echoed).toBe(done.expected);
    expect(upstream.bytes).toBe(TOTAL_MIB * MiB);
    expect(upstream.sha256).toBe(done.expected);
    expect(upstream.authorization).toBe("Key test-key");
  } finally {
    clearInterval(sampler);
  }
  const growth = (peak - baseline) / MiB;
  expect(growth, `RSS grew by ${growth.toFixed(1)} MiB`).toBeLessThan(64);
}, 180_000);
