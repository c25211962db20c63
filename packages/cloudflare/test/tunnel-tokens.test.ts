// Issue 13, findings 2 and 9 on the Worker in workerd: a handshake that cannot complete spends no token, and what
// workerd does with non-canonical tunnel URLs before the Worker sees them.
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { join } from "node:path";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import {
  bundleWorker,
  openSocket,
  type RunningWorker,
  SAME_ORIGIN,
  send,
  startWorker,
} from "@falgate/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

let mock: MockFal;
let worker: RunningWorker;
let port: number;

beforeAll(async () => {
  mock = await startMockFal();
  worker = await startWorker(await bundleWorker(join(__dirname, "fixtures/tunnel-worker.ts")), {
    FAL_KEY: mock.key,
    FALGATE_UPSTREAM: mock.url,
    FALGATE_TOKEN_SECRET: randomBytes(32).toString("base64"),
    CONNECT_TIMEOUT: "5000",
  });
  port = Number(new URL(worker.origin).port);
}, 60_000);
afterAll(async () => {
  await worker?.close();
  await mock?.close();
});

async function token(): Promise<string> {
  const minted = await send(`${worker.origin}/api/fal/proxy/token`, {
    method: "POST",
    headers: { ...SAME_ORIGIN, "content-type": "application/json" },
    body: JSON.stringify({ app: "fal-ai/echo", type: "falgate" }),
  });
  expect(minted.status).toBe(200);
  return minted.json<string>();
}

/** Sends a hand-written upgrade request and resolves with the status line and what followed, until `until` shows. */
function raw(target: string, headers: Record<string, string>, until = /\r\n\r\n/): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(done, 5_000);
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      if (until.test(answer)) done();
    });
    socket.on("error", done);
    socket.on("close", done);
    const lines = [
      `GET ${target} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Connection: Upgrade",
      "Upgrade: websocket",
    ];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  });
}

async function echoes(url: string): Promise<void> {
  const ws = await openSocket(url);
  ws.socket.send("still unspent");
  expect((await ws.next()).data.toString()).toBe("still unspent");
  ws.close();
  await ws.closed;
}

const tunnelUrl = (t: string) =>
  `ws://127.0.0.1:${port}/api/fal/proxy/fal-ai/echo/realtime?fal_jwt_token=${encodeURIComponent(t)}`;

describe("the Worker's tunnel in workerd", () => {
  test("a handshake without Sec-WebSocket-Key is refused (400 invalid_handshake) and spends nothing: the token then opens", async () => {
    const t = await token();
    // Read until the JSON body has ended (headers and body may come in separate chunks).
    const answer = await raw(
      `/api/fal/proxy/fal-ai/echo/realtime?fal_jwt_token=${t}`,
      { "Sec-WebSocket-Version": "13" },
      /\}\s*$/,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 [\s\S]*"invalid_handshake"/);
    await echoes(tunnelUrl(t));
  });

  test("workerd resolves `..`, `%2e%2e` and `\\` before the Worker sees the URL: the app checked is the app opened", async () => {
    for (const path of [
      "fal-ai/x/../echo/realtime",
      "fal-ai/x/%2e%2e/echo/realtime",
      "fal-ai\\echo/realtime",
    ]) {
      const before = mock.requests.filter((r) => r.websocket).length;
      const answer = await raw(
        `/api/fal/proxy/${path}?fal_jwt_token=${await token()}`,
        { "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" },
        /\r\n\r\n/,
      );
      // If this starts answering 404, workerd passes raw targets through and the gate refuses them: update
      // docs/realtime.md ("Non-canonical URLs on Workers").
      expect(answer).toMatch(/^HTTP\/1\.1 101 /);
      await expect
        .poll(() =>
          mock.requests
            .filter((r) => r.websocket)
            .slice(before)
            .map((r) => r.path),
        )
        .toEqual(["/fal-ai/echo/realtime"]);
    }
  });
});
