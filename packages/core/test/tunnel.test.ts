import { describe, expect, test } from "vitest";
import { bindingOf } from "../src/binding.js";
import { createFalgate, createMemoryStore, type FalgateOptions } from "../src/index.js";
import { createTokenIssuer } from "../src/tokens/index.js";
import {
  closeReason,
  createRelay,
  isSendableCloseCode,
  mapCloseCode,
  type RelayEndInfo,
  type RelayPeer,
  resolveTunnelOptions,
  type TunnelDecision,
} from "../src/tunnel/index.js";

type RealtimeOptions = FalgateOptions;
const createTunnelGate = (options: FalgateOptions) => bindingOf(createFalgate(options)).tunnel;

const SECRET = "tunnel-gate-secret-of-at-least-32-bytes";
const KEY = "key-id:key-secret";
const APP = "fal-ai/fast-lcm-diffusion/realtime";
const issuer = createTokenIssuer({ secret: SECRET, singleUse: false });
const silent = { warn: () => {}, error: () => {} };

function gate(options: RealtimeOptions = {}) {
  // app.test is not loopback: named in allowedHosts (the DNS rebinding check) like a deployment would.
  return createTunnelGate({
    credentials: KEY,
    tokens: { secret: SECRET },
    logger: silent,
    allowedHosts: ["app.test"],
    ...options,
  });
}

async function upgrade(path: string, headers: Record<string, string> = {}, host = "app.test") {
  return new Request(`http://${host}${path}`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      host,
      ...headers,
    },
  });
}

async function tokenFor(apps = [APP], subject = "user-1") {
  return (await issuer.issue({ subject, apps })).token;
}

function expectAction<A extends TunnelDecision["action"]>(
  decision: TunnelDecision,
  action: A,
): Extract<TunnelDecision, { action: A }> {
  expect(decision.action).toBe(action);
  return decision as Extract<TunnelDecision, { action: A }>;
}

describe("createTunnelGate: the upstream side", () => {
  test("default: wss://fal.run with the key in a header, the token stripped, other params kept", async () => {
    const token = await tokenFor();
    const d = expectAction(
      await gate().decide(await upgrade(`/api/fal/proxy/${APP}?max_buffering=5&fal_jwt_token=${token}&x=1`)),
      "connect",
    );
    expect(d.upstream).toEqual({
      url: `wss://fal.run/${APP}?max_buffering=5&x=1`,
      fetchUrl: `https://fal.run/${APP}?max_buffering=5&x=1`,
      headers: { authorization: `Key ${KEY}` },
    });
    expect(d.principal).toEqual({ id: "user-1" });
    expect(d.app).toBe(APP);
    d.release();
  });

  test("a string upstream maps to ws:// on that origin and names fal's host in a header", async () => {
    const d = expectAction(
      await gate({ upstream: "http://127.0.0.1:9999" }).decide(
        await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`),
      ),
      "connect",
    );
    expect(d.upstream.url).toBe(`ws://127.0.0.1:9999/${APP}`);
    expect(d.upstream.fetchUrl).toBe(`http://127.0.0.1:9999/${APP}`);
    expect(d.upstream.headers["x-falgate-upstream-host"]).toBe("fal.run");
    d.release();
  });

  test("a function upstream gets the https target, like the HTTP proxy, and may answer ws(s)", async () => {
    const seen: string[] = [];
    const d = expectAction(
      await gate({
        upstream: (target) => {
          seen.push(target.href);
          return `wss://staging.example${target.pathname}`;
        },
      }).decide(await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`)),
      "connect",
    );
    expect(seen).toEqual([`https://fal.run/${APP}`]);
    expect(d.upstream.url).toBe(`wss://staging.example/${APP}`);
    expect(d.upstream.fetchUrl).toBe(`https://staging.example/${APP}`);
    d.release();
  });

  test("the mount path is configurable; the key may come from env or a resolver", async () => {
    const token = await tokenFor();
    const fromEnv = createTunnelGate({
      allowedHosts: ["app.test"],
      tokens: { secret: SECRET },
      path: "/rt/",
      logger: silent,
    });
    const d = expectAction(
      await fromEnv.decide(await upgrade(`/rt/${APP}?fal_jwt_token=${token}`), { FAL_KEY: "env:key" }),
      "connect",
    );
    expect(d.upstream.headers.authorization).toBe("Key env:key");
    d.release();
    const resolver = gate({ credentials: ({ principal }) => `per:${principal.id}` });
    const r = expectAction(
      await resolver.decide(await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${token}`)),
      "connect",
    );
    expect(r.upstream.headers.authorization).toBe("Key per:user-1");
    r.release();
  });

  test("no key anywhere: accepted, then an in-band INTERNAL_ERROR and 1011", async () => {
    const g = createTunnelGate({ tokens: { secret: SECRET }, logger: silent, allowedHosts: ["app.test"] });
    const d = expectAction(
      await g.decide(await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`), {}),
      "refuse",
    );
    expect(JSON.parse(d.refusal.frame)).toMatchObject({ type: "x-fal-error", error: "INTERNAL_ERROR" });
    expect(d.refusal.code).toBe(1011);
    expect(d.refusal.frame).not.toContain(KEY);
  });
});

describe("createTunnelGate: refusals", () => {
  test("requests outside the mount pass untouched", async () => {
    for (const path of [
      "/",
      "/api/fal/proxy",
      "/api/fal/proxyx/fal-ai/x/realtime",
      "/other/fal-ai/x/realtime",
    ]) {
      expect((await gate().decide(await upgrade(path))).action).toBe("pass");
    }
  });

  test.each<[string, Record<string, string>, string, boolean]>([
    ["a foreign origin", { origin: "https://evil.example" }, "app.test", false],
    ["an opaque origin", { origin: "null" }, "app.test", false],
    ["a look-alike host", { origin: "https://app.test.evil.example" }, "app.test", false],
    ["the same host", { origin: "http://app.test" }, "app.test", true],
    ["the same host over https (TLS terminated before us)", { origin: "https://app.test" }, "app.test", true],
    ["an allowed origin", { origin: "https://web.example" }, "app.test", true],
    ["no origin (not a browser)", {}, "app.test", true],
  ])("%s", async (_name, headers, host, allowed) => {
    const g = gate({ allowedOrigins: ["https://web.example"] });
    const d = await g.decide(
      await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`, headers, host),
    );
    if (allowed) {
      expectAction(d, "connect").release();
    } else {
      const r = expectAction(d, "reject");
      expect(r.response.status).toBe(403);
      expect(r.error.code).toBe("origin_not_allowed");
    }
  });

  test.each<[string, string, number, string]>([
    ["a single segment", "/api/fal/proxy/fal-ai", 404, "not_found"],
    ["an encoded slash", "/api/fal/proxy/fal-ai/a%2Fb/realtime", 404, "not_found"],
    ["an empty segment", "/api/fal/proxy/fal-ai//realtime", 404, "not_found"],
    ["max_buffering out of range", `/api/fal/proxy/${APP}?max_buffering=61`, 400, "invalid_target"],
    ["max_buffering not a number", `/api/fal/proxy/${APP}?max_buffering=5.5`, 400, "invalid_target"],
    ["a fal_webhook", `/api/fal/proxy/${APP}?fal_webhook=https://hook.example/`, 400, "invalid_target"],
    ["an encoded fal_webhook", `/api/fal/proxy/${APP}?fal%255Fwebhook[]=x`, 400, "invalid_target"],
    ["a fal_webhook in another case", `/api/fal/proxy/${APP}?Fal_Webhook=`, 400, "invalid_target"],
  ])("%s is rejected before the upgrade", async (_name, path, status, code) => {
    const r = expectAction(await gate().decide(await upgrade(path)), "reject");
    expect(r.response.status).toBe(status);
    expect(r.error.code).toBe(code);
  });

  test("not an upgrade: 405; tunnel without keys: 404", async () => {
    const plain = new Request(`http://app.test/api/fal/proxy/${APP}`);
    expect(expectAction(await gate().decide(plain), "reject").response.status).toBe(405);
    const off = createTunnelGate({ credentials: KEY, logger: silent, allowedHosts: ["app.test"] });
    expect(
      expectAction(await off.decide(await upgrade(`/api/fal/proxy/${APP}`), {}), "reject").error.code,
    ).toBe("not_found");
  });

  test.each<[string, () => Promise<string>]>([
    ["no token", async () => `/api/fal/proxy/${APP}`],
    [
      "two tokens",
      async () => `/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}&fal_jwt_token=${await tokenFor()}`,
    ],
    [
      "a token for another app",
      async () => `/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor(["fal-ai/other"])}`,
    ],
  ])("%s: in-band Unauthorized and 1008", async (_name, path) => {
    const d = expectAction(await gate().decide(await upgrade(await path())), "refuse");
    expect(JSON.parse(d.refusal.frame)).toMatchObject({ status: "error", error: "Unauthorized" });
    expect(d.refusal).toMatchObject({ code: 1008, reason: "Unauthorized" });
  });

  test("an app the endpoint policy refuses: in-band Unauthorized", async () => {
    const g = gate({ allowedEndpoints: ["fal-ai/flux/*"] });
    const d = expectAction(
      await g.decide(await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`)),
      "refuse",
    );
    expect(d.refusal.error.code).toBe("endpoint_not_allowed");
  });

  test("per-principal cap: slots are taken per subject and given back by release()", async () => {
    const store = createMemoryStore();
    const g = gate({ store, tunnel: { maxPerPrincipal: 1 } });
    const open = async (subject: string) =>
      g.decide(await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor([APP], subject)}`));
    const first = expectAction(await open("a"), "connect");
    const second = expectAction(await open("a"), "refuse");
    expect(second.refusal).toMatchObject({ code: 1013 });
    expect(JSON.parse(second.refusal.frame)).toMatchObject({ type: "x-fal-error", error: "RATE_LIMITED" });
    expectAction(await open("b"), "connect").release();
    first.release();
    first.release(); // idempotent
    await Promise.resolve();
    expect(await store.slots("tunnel:a")).toBe(0);
    expectAction(await open("a"), "connect").release();
  });
});

describe("createTunnelGate: DNS rebinding", () => {
  const rebound = "rebind.attacker.example:3000";
  // A fresh token each time: the gate's tokens are single-use.
  const path = async () => `/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`;
  test("an upgrade addressed to a host that is not allowed is refused 403 host_not_allowed before the upgrade", async () => {
    for (const headers of [{ origin: `http://${rebound}` }, {}] as Array<Record<string, string>>) {
      const r = expectAction(await gate().decide(await upgrade(await path(), headers, rebound)), "reject");
      expect(r.error.code).toBe("host_not_allowed");
      expect(r.response.status).toBe(403);
    }
    // Loopback names pass without configuration, as on HTTP.
    const local = gate({ allowedHosts: undefined });
    expectAction(
      await local.decide(await upgrade(await path(), { origin: "http://localhost:3000" }, "localhost:3000")),
      "connect",
    ).release();
    expectAction(await local.decide(await upgrade(await path(), {}, "[::1]:3000")), "connect").release();
  });

  test("an allowedOrigins page passes whatever the host; `true` and an authorize hook turn the check off", async () => {
    const cors = gate({ allowedOrigins: ["https://web.example"] });
    expectAction(
      await cors.decide(await upgrade(await path(), { origin: "https://web.example" }, rebound)),
      "connect",
    ).release();
    const same = { origin: `http://${rebound}` };
    expectAction(
      await gate({ allowedHosts: true }).decide(await upgrade(await path(), same, rebound)),
      "connect",
    ).release();
    const hooked = gate({ allowedHosts: undefined, authorize: () => ({ id: "u" }) });
    expectAction(await hooked.decide(await upgrade(await path(), same, rebound)), "connect").release();
    const strict = gate({ allowedHosts: ["app.test"], authorize: () => ({ id: "u" }) });
    expect(
      expectAction(await strict.decide(await upgrade(await path(), same, rebound)), "reject").error.code,
    ).toBe("host_not_allowed");
  });
});

describe("createTunnelGate: hardening", () => {
  test("the Origin is compared with the Host header, not with a host smuggled into the request target", async () => {
    // What the Node binding would build from `GET //evil.example/api/fal/proxy/...` with Host: app.test.
    const request = new Request(
      `http://evil.example/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`,
      {
        headers: {
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-version": "13",
          host: "app.test",
          origin: "https://evil.example",
        },
      },
    );
    const r = expectAction(await gate().decide(request), "reject");
    expect(r.error.code).toBe("origin_not_allowed");
  });

  test.each<[string, RealtimeOptions["upstream"]]>([
    [
      "throws",
      () => {
        throw new Error("boom");
      },
    ],
    ["maps to ftp:", () => "ftp://127.0.0.1/x"],
    ["maps to garbage", () => "not a url"],
  ])(
    "an upstream override that %s refuses the tunnel without leaking the user's slot",
    async (_name, upstream) => {
      const store = createMemoryStore();
      const open = async (options: RealtimeOptions) =>
        gate({ ...options, store, tunnel: { maxPerPrincipal: 1 } }).decide(
          await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`),
        );
      for (let i = 0; i < 3; i++) {
        const d = expectAction(await open({ upstream }), "refuse");
        expect(d.refusal.code).toBe(1011);
      }
      expect(await store.slots("tunnel:user-1")).toBe(0);
      expectAction(await open({}), "connect").release();
    },
  );

  test("an upstream URL's #fragment is dropped", async () => {
    const d = expectAction(
      await gate({ upstream: () => "http://127.0.0.1:9999/x#frag" }).decide(
        await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${await tokenFor()}`),
      ),
      "connect",
    );
    expect(d.upstream.url).toBe("ws://127.0.0.1:9999/x");
    d.release();
  });

  test("a token from the token route carries the principal's endpoint limits into the tunnel", async () => {
    const falgate = createFalgate({
      credentials: KEY,
      tokens: { secret: SECRET },
      logger: silent,
      authorize: () => ({ id: "narrow", endpoints: ["fal-ai/flux/dev"] }),
    });
    const res = await falgate.fetch(
      new Request("http://app.test/api/fal/proxy/token", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ app: "fal-ai/flux/dev" }),
      }),
    );
    expect(res.status).toBe(200);
    const token = (await res.json()) as string;
    const claims = await issuer.verify(token);
    expect(claims.endpoints).toEqual(["fal-ai/flux/dev"]);
    const open = async (app: string) =>
      gate().decide(await upgrade(`/api/fal/proxy/${app}?fal_jwt_token=${token}`));
    // Over HTTP this principal may not call fal-ai/flux/dev/image-to-image; neither may its token.
    const sub = expectAction(await open("fal-ai/flux/dev/image-to-image/realtime"), "refuse");
    expect(sub.refusal.error.code).toBe("endpoint_not_allowed");
    const d = expectAction(await open("fal-ai/flux/dev/realtime"), "connect");
    expect(d.principal).toEqual({ id: "narrow", endpoints: ["fal-ai/flux/dev"] });
    d.release();
  });

  test("a forged endpoints claim of the wrong shape is refused", async () => {
    await expect(
      issuer.issue({ subject: "u", apps: [APP], endpoints: Array.from({ length: 65 }, () => "a/b") }),
    ).rejects.toThrow(TypeError);
    const { token } = await issuer.issue({ subject: "u", apps: [APP], endpoints: [] });
    // An empty list is a real limit: nothing is allowed.
    const d = expectAction(
      await gate().decide(await upgrade(`/api/fal/proxy/${APP}?fal_jwt_token=${token}`)),
      "refuse",
    );
    expect(d.refusal.error.code).toBe("endpoint_not_allowed");
  });
});

describe("options", () => {
  test.each<[string, Parameters<typeof resolveTunnelOptions>[0], RegExp]>([
    ["maxPayload", { maxPayload: 0 }, /`tunnel\.maxPayload`/],
    ["idleTimeout", { idleTimeout: -1 }, /`tunnel\.idleTimeout`/],
    ["onEnd", { onEnd: "x" as never }, /`tunnel\.onEnd`/],
  ])("a bad %s throws a TypeError naming it", (_name, options, message) => {
    expect(() => resolveTunnelOptions(options)).toThrow(message);
  });

  test("the mount path is the top-level `path`, validated once", () => {
    expect(() => createFalgate({ path: "api" })).toThrow(/`path`/);
    expect(bindingOf(createFalgate({ path: "/rt/", logger: silent })).tunnel.limits.path).toBe("/rt");
  });

  test("defaults are documented values", () => {
    const limits = resolveTunnelOptions();
    expect(limits).toMatchObject({
      path: "/api/fal/proxy",
      maxPayload: 16 * 1024 * 1024,
      idleTimeout: 300_000,
      pingInterval: 30_000,
      maxPerPrincipal: 5,
    });
  });
});

describe("close codes", () => {
  test.each<[number | undefined, "client" | "upstream", number]>([
    [undefined, "client", 1000],
    [1005, "client", 1000],
    [1006, "client", 1011],
    [1015, "client", 1011],
    [1006, "upstream", 1001],
    [1004, "client", 1011],
    [2000, "upstream", 1001],
    [1000, "client", 1000],
    [1008, "upstream", 1008],
    [1014, "client", 1014],
    [4001, "client", 4001],
  ])("%s toward %s -> %s", (code, toward, expected) => {
    expect(mapCloseCode(code, toward)).toBe(expected);
    expect(isSendableCloseCode(mapCloseCode(code, toward))).toBe(true);
  });

  test("reasons are cut to 123 UTF-8 bytes without splitting a character", () => {
    const cut = closeReason("é".repeat(100));
    expect(new TextEncoder().encode(cut).byteLength).toBeLessThanOrEqual(123);
    expect(cut).toBe("é".repeat(61));
    expect(closeReason("short")).toBe("short");
  });
});

describe("createRelay", () => {
  function fakePeer() {
    const sent: string[] = [];
    const closes: Array<[number, string]> = [];
    const peer: RelayPeer<string> = {
      send: (m) => sent.push(m),
      close: (code, reason) => closes.push([code, reason]),
    };
    return { peer, sent, closes };
  }

  function relay(limits: Partial<Parameters<typeof createRelay>[0]["limits"]> = {}) {
    const client = fakePeer();
    const upstream = fakePeer();
    const ends: RelayEndInfo[] = [];
    let ended!: () => void;
    const done = new Promise<void>((resolve) => {
      ended = resolve;
    });
    const r = createRelay<string>({
      limits: { maxQueuedMessages: 3, maxQueuedBytes: 100, idleTimeout: 0, maxSessionDuration: 0, ...limits },
      client: client.peer,
      upstream: upstream.peer,
      size: (m) => m.length,
      onEnd: (info) => {
        ends.push(info);
        ended();
      },
    });
    return { r, client, upstream, ends, done };
  }

  test("queues until upstream opens, then keeps order", () => {
    const { r, upstream, client } = relay();
    r.fromClient("a");
    r.fromClient("b");
    expect(upstream.sent).toEqual([]);
    r.upstreamOpened();
    r.fromClient("c");
    r.fromUpstream("x");
    expect(upstream.sent).toEqual(["a", "b", "c"]);
    expect(client.sent).toEqual(["x"]);
  });

  test.each<[string, string[]]>([
    ["too many messages", ["a", "b", "c", "d"]],
    ["too many bytes", ["x".repeat(60), "y".repeat(60)]],
  ])("the queue bound (%s) ends the tunnel with 1008", (_name, messages) => {
    const { r, client, upstream, ends } = relay();
    for (const m of messages) r.fromClient(m);
    expect(client.closes[0]?.[0]).toBe(1008);
    expect(upstream.closes[0]?.[0]).toBe(1001);
    expect(ends).toMatchObject([{ reason: "queue-overflow" }]);
    r.upstreamOpened();
    expect(upstream.sent).toEqual([]);
  });

  test("each side's close reaches the other with a sendable code, once", () => {
    const a = relay();
    a.r.upstreamOpened();
    a.r.clientClosed(1006, "");
    a.r.upstreamClosed(1000, "late");
    expect(a.upstream.closes).toEqual([[1001, ""]]);
    expect(a.client.closes).toEqual([]);
    expect(a.ends).toMatchObject([{ reason: "client-closed", code: 1006 }]);

    const b = relay();
    b.r.upstreamOpened();
    b.r.fromUpstream("m");
    b.r.upstreamClosed(1005, "");
    expect(b.client.closes).toEqual([[1000, ""]]);
    expect(b.ends).toMatchObject([{ reason: "upstream-closed", messagesOut: 1, bytesOut: 1 }]);
  });

  test("upstream failure closes the client with 1014; events after the end are ignored", () => {
    const { r, client, upstream, ends } = relay();
    r.fromClient("a");
    r.upstreamFailed("fal refused the connection (401)");
    expect(client.closes).toEqual([[1014, "fal refused the connection (401)"]]);
    r.fromUpstream("z");
    r.fromClient("b");
    expect(client.sent).toEqual([]);
    expect(upstream.sent).toEqual([]);
    expect(ends).toHaveLength(1);
  });

  test("idle and session timers end the tunnel with 1000", async () => {
    const idle = relay({ idleTimeout: 30 });
    const session = relay({ maxSessionDuration: 30 });
    await Promise.all([idle.done, session.done]);
    expect(idle.client.closes).toEqual([[1000, "Idle timeout"]]);
    expect(session.client.closes).toEqual([[1000, "Session time limit"]]);
  });
});
