import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { encode } from "@msgpack/msgpack";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { SAME_ORIGIN } from "./conformance.js";
import { send } from "./http.js";
import { type OpenSocket, openSocket } from "./ws.js";

/**
 * What every tunnel binding under test is started with: JSON only, so a Worker gets it as bindings. The binding
 * mounts falgate at `/api/fal/proxy` (HTTP proxy, token route, tunnel below it) and its `authorize` hook answers the
 * principal named by the `x-test-user` request header (`anonymous` without it).
 */
export interface TunnelConformanceOptions {
  credentials: string;
  upstream: string;
  /** falgate's token secret (32+ bytes). */
  secret: string;
  allowedEndpoints: string[];
  allowedOrigins: string[];
  /** `tunnel.maxPerPrincipal`. */
  maxPerPrincipal: number;
  /** `tunnel.maxPayload` in bytes. */
  maxPayload: number;
}

/** A tunnel binding under test, listening on a real server. */
export interface TunnelUnderTest {
  /** `http://127.0.0.1:PORT`; the mount is `${origin}/api/fal/proxy`. */
  origin: string;
  close(): Promise<void>;
}

/** Checks a binding may skip, each with a stated reason. */
export type TunnelCheck = "unreachable";

/** How to run the tunnel suite against one binding. */
export interface TunnelConformanceConfig {
  name: string;
  start: (options: TunnelConformanceOptions) => Promise<TunnelUnderTest>;
  skip?: Partial<Record<TunnelCheck, string>>;
}

const MOUNT = "/api/fal/proxy";
const APP = "fal-ai/echo";
const ALLOWED_ORIGIN = "https://app.example.com";

/**
 * The realtime tunnel suite, run on every tunnel binding (Node `ws`, Workers `WebSocketPair`): frames relayed
 * unchanged both ways, the key only ever in the upstream handshake's header, tokens single-use and scoped to
 * their app, refusals the official client understands, the per-principal cap, fal's closes and errors passed on.
 */
export function describeTunnelConformance(config: TunnelConformanceConfig): void {
  describe(`tunnel conformance: ${config.name}`, () => {
    let mock: MockFal;
    let tunnel: TunnelUnderTest;
    const sockets: OpenSocket[] = [];
    const options = (): TunnelConformanceOptions => ({
      credentials: mock.key,
      upstream: mock.url,
      secret: randomBytes(32).toString("base64url"),
      allowedEndpoints: ["fal-ai/*"],
      allowedOrigins: [ALLOWED_ORIGIN],
      maxPerPrincipal: 2,
      maxPayload: 64 * 1024,
    });

    beforeAll(async () => {
      mock = await startMockFal();
      tunnel = await config.start(options());
    });
    afterAll(async () => {
      await tunnel?.close();
      await mock?.close();
    });
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.socket.terminate();
      mock.reset();
    });

    /** Mints a falgate token through the binding's own token route. */
    async function token(app = APP, user = "user-1"): Promise<string> {
      const minted = await send(`${tunnel.origin}${MOUNT}/token`, {
        method: "POST",
        headers: { ...SAME_ORIGIN, "content-type": "application/json", "x-test-user": user },
        body: JSON.stringify({ app, type: "falgate" }),
      });
      expect(minted.status).toBe(200);
      return minted.json<string>();
    }

    function url(app: string, jwt: string | null, query = ""): string {
      const u = new URL(`${tunnel.origin}${MOUNT}/${app}/realtime${query}`);
      u.protocol = "ws:";
      if (jwt !== null) u.searchParams.set("fal_jwt_token", jwt);
      return u.href;
    }

    async function open(address: string, headers: Record<string, string> = {}): Promise<OpenSocket> {
      const socket = await openSocket(address, headers);
      sockets.push(socket);
      return socket;
    }

    test("relays binary and text frames unchanged, in order, both ways", async () => {
      const ws = await open(url(APP, await token()));
      const frames: Array<{ data: Buffer; binary: boolean }> = [
        { data: Buffer.from([0, 1, 2, 255]), binary: true },
        { data: Buffer.from('{"prompt":"ünïcode"}'), binary: false },
        { data: Buffer.from(encode({ prompt: "msgpack", seed: 7 })), binary: true },
        { data: randomBytes(48 * 1024), binary: true },
        { data: Buffer.from("last"), binary: false },
      ];
      for (const frame of frames) ws.socket.send(frame.data, { binary: frame.binary });
      for (const frame of frames) {
        const echoed = await ws.next();
        expect(echoed.binary).toBe(frame.binary);
        expect(echoed.data.equals(frame.data)).toBe(true);
      }
      ws.socket.close(1000, "done");
      expect((await ws.closed).code).toBe(1000);
    });

    test("fal gets the key in the handshake's Authorization header; the URL carries neither key nor token", async () => {
      const jwt = await token();
      const ws = await open(url(APP, jwt, "?max_buffering=5"));
      ws.socket.send(Buffer.from([1]));
      await ws.next();
      const upstream = await mock.waitForRequest((r) => r.websocket === true);
      expect(upstream.headers.authorization).toBe(`Key ${mock.key}`);
      expect(upstream.search).toBe("?max_buffering=5");
      expect(`${upstream.path}${upstream.search}`).not.toContain(jwt);
      expect(`${upstream.path}${upstream.search}`).not.toContain(mock.key);
    });

    test("a bad token gets fal's Unauthorized frame, then close 1008, and fal is never dialled", async () => {
      const ws = await open(url(APP, "not-a-token"));
      const frame = await ws.next();
      expect(JSON.parse(frame.data.toString())).toMatchObject({ status: "error", error: "Unauthorized" });
      expect(frame.data.toString()).not.toContain(mock.key);
      expect(await ws.closed).toEqual({ code: 1008, reason: "Unauthorized" });
      expect(mock.requests.filter((r) => r.websocket)).toHaveLength(0);
    });

    test("a token opens one tunnel: replayed, it is refused like a bad one", async () => {
      const jwt = await token();
      const first = await open(url(APP, jwt));
      first.socket.send(Buffer.from([1]));
      await first.next();
      const replay = await open(url(APP, jwt));
      expect(JSON.parse((await replay.next()).data.toString())).toMatchObject({ error: "Unauthorized" });
      expect((await replay.closed).code).toBe(1008);
    });

    test("a token opens only its own app", async () => {
      const ws = await open(url("fal-ai/other-app", await token(APP)));
      expect(JSON.parse((await ws.next()).data.toString())).toMatchObject({ error: "Unauthorized" });
      expect((await ws.closed).code).toBe(1008);
      expect(mock.requests.filter((r) => r.websocket)).toHaveLength(0);
    });

    test("a foreign page's Origin is refused with 403 before the upgrade; an allowed one passes", async () => {
      await expect(
        openSocket(url(APP, await token()), { origin: "https://evil.example" }),
      ).rejects.toMatchObject({ status: 403 });
      const ws = await open(url(APP, await token()), { origin: ALLOWED_ORIGIN });
      ws.socket.send(Buffer.from([9]));
      expect([...(await ws.next()).data]).toEqual([9]);
    });

    test("a principal gets at most maxPerPrincipal tunnels (RATE_LIMITED, 1013); closing one frees a slot", async () => {
      const held = [
        await open(url(APP, await token(APP, "capped"))),
        await open(url(APP, await token(APP, "capped"))),
      ];
      for (const ws of held) {
        ws.socket.send(Buffer.from([1]));
        await ws.next();
      }
      const third = await open(url(APP, await token(APP, "capped")));
      expect(JSON.parse((await third.next()).data.toString())).toMatchObject({
        type: "x-fal-error",
        error: "RATE_LIMITED",
      });
      expect((await third.closed).code).toBe(1013);
      // Another principal is not affected.
      const other = await open(url(APP, await token(APP, "someone-else")));
      other.socket.send(Buffer.from([2]));
      expect([...(await other.next()).data]).toEqual([2]);
      held[0]!.close();
      await held[0]!.closed;
      await expect
        .poll(async () => {
          const again = await open(url(APP, await token(APP, "capped")));
          again.socket.send(Buffer.from([3]));
          const ok = await again.next().then(
            (frame) => frame.data[0] === 3,
            () => false,
          );
          again.socket.terminate();
          return ok;
        })
        .toBe(true);
    });

    test("fal's errors and closes reach the client: the x-fal-error frame, then fal's close code", async () => {
      const ws = await open(url("fal-ai/fast-lcm-diffusion", await token("fal-ai/fast-lcm-diffusion")));
      ws.socket.send(JSON.stringify({ mock_error: "INTERNAL_ERROR", reason: "boom" }));
      expect(JSON.parse((await ws.next()).data.toString())).toMatchObject({
        type: "x-fal-error",
        error: "INTERNAL_ERROR",
      });
      expect((await ws.closed).code).toBe(1011);
      const closing = await open(url("fal-ai/fast-lcm-diffusion", await token("fal-ai/fast-lcm-diffusion")));
      closing.socket.send(JSON.stringify({ mock_close: { code: 4001, reason: "app says bye" } }));
      expect(await closing.closed).toEqual({ code: 4001, reason: "app says bye" });
    });

    test("a message over maxPayload closes the tunnel with 1009", async () => {
      const ws = await open(url(APP, await token()));
      ws.socket.send(randomBytes(64 * 1024 + 1));
      expect((await ws.closed).code).toBe(1009);
    });

    const unreachable = config.skip?.unreachable;
    (unreachable ? test.skip : test)(
      `fal unreachable: the client is told with close 1014${unreachable ? ` (skipped on this platform: ${unreachable})` : ""}`,
      async () => {
        const dead = await closedPort();
        const gone = await config.start({ ...options(), upstream: dead });
        try {
          const minted = await send(`${gone.origin}${MOUNT}/token`, {
            method: "POST",
            headers: { ...SAME_ORIGIN, "content-type": "application/json" },
            body: JSON.stringify({ app: APP, type: "falgate" }),
          });
          const u = new URL(`${gone.origin}${MOUNT}/${APP}/realtime`);
          u.protocol = "ws:";
          u.searchParams.set("fal_jwt_token", minted.json<string>());
          const ws = await openSocket(u.href);
          sockets.push(ws);
          expect((await ws.closed).code).toBe(1014);
        } finally {
          await gone.close();
        }
      },
    );
  });
}

/** A loopback URL on which nothing listens (bound, then released). */
async function closedPort(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
