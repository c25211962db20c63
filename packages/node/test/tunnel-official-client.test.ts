import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createFalClient } from "@fal-ai/client";
import { createFalgate, type Logger } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket as NodeWebSocket } from "ws";
import { createNodeHandler } from "../src/handler.js";
import { attachTunnel, type NodeTunnel } from "../src/tunnel.js";

/*
 * The official `@fal-ai/client` realtime, unmodified, against mock-fal. The client hard-codes
 * `wss://fal.run/...` and uses the global `WebSocket`; Node 20 has none, so the test installs a subclass of
 * `ws`'s WebSocket that rewrites `wss://fal.run` to a loopback URL: a test-only stand-in for DNS, the one
 * thing a browser page would get from the network instead. Everything else (token fetch, URL building,
 * msgpack, the Unauthorized handling) is the official client's own code.
 */

const SECRET = "official-client-secret-of-at-least-32-b";
const APP = "fal-ai/fast-lcm-diffusion";
const silent: Logger = { warn: () => {}, error: () => {} };

let mock: MockFal;
let server: Server;
let tunnel: NodeTunnel;
let base: string;
/** Where `wss://fal.run` points for the next connections. */
let falRun = "";
/** Every URL the client opened (after the rewrite). */
const opened: string[] = [];
/** Token requests the token route answered. */
const tokenCalls: Array<{ app: unknown; type: unknown }> = [];

class RewritingWebSocket extends NodeWebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    const rewritten = String(url).replace(/^wss:\/\/fal\.run(?=\/)/, falRun);
    opened.push(rewritten);
    super(rewritten, protocols);
    this.binaryType = "arraybuffer";
  }
}

const originalWebSocket = (globalThis as { WebSocket?: unknown }).WebSocket;

beforeAll(async () => {
  (globalThis as { WebSocket?: unknown }).WebSocket = RewritingWebSocket;
  mock = await startMockFal();
  // One instance for the app: the token route (POST /api/fal/proxy/token) and the tunnel (upgrades) share it.
  const falgate = createFalgate({
    credentials: mock.key,
    upstream: mock.url,
    allowedEndpoints: [APP, "fal-ai/echo/*"],
    authorize: () => ({ id: "user-1" }),
    env: { FALGATE_TOKEN_SECRET: SECRET },
    logger: silent,
    observers: [
      (event) => {
        if (event.type !== "call.end" || event.call.route !== "token") return;
        // A fal token is forwarded to fal; a falgate token is answered by falgate itself.
        tokenCalls.push({
          app: event.call.endpointId,
          type: event.end.decision === "forwarded" ? "fal" : "falgate",
        });
      },
    ],
  });
  server = createServer(createNodeHandler(falgate));
  tunnel = attachTunnel(server, falgate);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  (globalThis as { WebSocket?: unknown }).WebSocket = originalWebSocket;
  await tunnel.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await mock.close();
});

afterEach(() => {
  opened.length = 0;
  tokenCalls.length = 0;
});

/** A `tokenProvider` as an app would write it: POST the app id to falgate's token route, the answer is the token. */
function tokenProvider(type: "fal" | "falgate") {
  return async (app: string): Promise<string> => {
    const response = await fetch(`${base}/api/fal/proxy/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app, type }),
    });
    if (!response.ok) throw new Error(`token route answered ${response.status}`);
    return (await response.json()) as string;
  };
}

/** Connects with the official client, sends one input, resolves with the first result or rejects on error. */
function roundTrip(provider: (app: string) => Promise<string>, input: Record<string, unknown>) {
  const fal = createFalClient({});
  const errors: unknown[] = [];
  let done = false;
  return new Promise<{ result: Record<string, unknown>; errors: unknown[] }>((resolve) => {
    const connection = fal.realtime.connect(APP, {
      tokenProvider: provider,
      throttleInterval: 0,
      onResult: (result: Record<string, unknown>) => {
        done = true;
        connection.close();
        resolve({ result, errors });
      },
      onError: (error: unknown) => {
        // The client reports its own close() (sent without a code, seen as 1005) as an error too.
        if (done) return;
        errors.push(error);
        // The official client drops its token on Unauthorized; its next send fetches a fresh one.
        setImmediate(() => connection.send(input));
      },
    });
    connection.send(input);
  });
}

describe("official @fal-ai/client realtime", () => {
  test("direct to fal with a fal token minted by falgate's token route", async () => {
    falRun = mock.wsUrl;
    const { result, errors } = await roundTrip(tokenProvider("fal"), { prompt: "a red fox", seed: 7 });
    expect(errors).toEqual([]);
    expect(result).toMatchObject({
      seed: 7,
      images: [expect.objectContaining({ content_type: "image/png" })],
    });
    // The client names `app/path`; falgate turned it into fal's alias scoping, with the expiration clamped.
    expect(tokenCalls).toEqual([{ app: `${APP}/realtime`, type: "fal" }]);
    const minted = mock.requests.filter((r) => r.host === "rest.fal.ai" && r.path === "/tokens/").at(-1);
    expect(minted?.json).toEqual({ allowed_apps: ["fast-lcm-diffusion"], token_expiration: 120 });
    const ws = mock.requests.filter((r) => r.websocket).at(-1)!;
    expect(ws.search).toMatch(/^\?fal_jwt_token=/);
    expect(ws.headers.authorization).toBeUndefined();
  });

  test("through falgate's tunnel with a falgate token: same client, only the host differs", async () => {
    falRun = `${base.replace(/^http/, "ws")}/api/fal/proxy`;
    const { result, errors } = await roundTrip(tokenProvider("falgate"), { prompt: "a blue whale", seed: 3 });
    expect(errors).toEqual([]);
    expect(result).toMatchObject({
      seed: 3,
      images: [expect.objectContaining({ width: expect.any(Number) })],
    });
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatch(
      new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/api/fal/proxy/${APP}/realtime\\?fal_jwt_token=`),
    );
    const upstream = mock.requests.filter((r) => r.websocket).at(-1)!;
    expect(upstream.path).toBe(`/${APP}/realtime`);
    expect(upstream.search).toBe("");
    expect(upstream.headers.authorization).toBe(`Key ${mock.key}`);
    // msgpack in, msgpack out: the client's binary frames crossed the tunnel unchanged.
    expect(upstream.frames?.filter((f) => f.direction === "in").every((f) => f.binary)).toBe(true);
  });

  test("a bad token gets fal's Unauthorized frame; the client fetches a new token and carries on", async () => {
    falRun = `${base.replace(/^http/, "ws")}/api/fal/proxy`;
    const good = tokenProvider("falgate");
    let calls = 0;
    const flaky = async (app: string) => (++calls === 1 ? "not-a-valid-token" : good(app));
    const { result, errors } = await roundTrip(flaky, { prompt: "second try", seed: 11 });
    expect(result).toMatchObject({ seed: 11 });
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ status: 1008 });
    expect(opened).toHaveLength(2);
  });
});
