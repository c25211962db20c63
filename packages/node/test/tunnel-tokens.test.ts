// Issue 13, findings 2, 3, 4 and 9: token and tunnel edges, on the real Node binding (one instance serving the
// HTTP proxy, the token route and the tunnel), with real sockets and mock-fal as the upstream.
import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { createFalgate, FalgateError, type FalgateOptions, type RequestInfo } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { createNodeHandler } from "../src/handler.js";
import { attachTunnel } from "../src/tunnel.js";

const SECRET = "tunnel-tokens-secret-of-at-least-32-bytes";
const ECHO = "fal-ai/echo/realtime";
const MOUNT = "/api/fal/proxy";
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

let mock: MockFal;
beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());
afterEach(() => mock.clearFaults());

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** One falgate instance behind a real Node server: HTTP proxy and token route, and the tunnel. */
async function start(options: Partial<FalgateOptions> = {}) {
  const falgate = createFalgate({
    credentials: mock.key,
    upstream: mock.url,
    tokens: { secret: SECRET },
    allowUnauthenticated: true,
    logger: { warn: () => {}, error: () => {} },
    env: {},
    ...options,
  });
  const handler = createNodeHandler(falgate);
  const server = createServer((req, res) => void handler(req, res));
  const tunnel = attachTunnel(server, falgate);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  cleanups.push(async () => {
    await tunnel.close();
    server.closeAllConnections();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const base = `http://127.0.0.1:${port}${MOUNT}`;
  return {
    port,
    tunnel,
    /** `POST {mount}/token` as a tokenProvider does. */
    mint: (body: unknown) =>
      fetch(`${base}/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    /** A falgate tunnel token for `app`, minted by the token route. */
    async token(app = ECHO): Promise<string> {
      const response = await this.mint({ app, type: "falgate" });
      expect(response.status).toBe(200);
      return (await response.json()) as string;
    },
    /** A proxied call to `target` (an intercepted fal token request when it is `https://rest.fal.ai/tokens/`). */
    proxy: (target: string, body: unknown) =>
      fetch(base, {
        method: "POST",
        headers: { "content-type": "application/json", "x-fal-target-url": target },
        body: JSON.stringify(body),
      }),
    path: (token: string, app = ECHO) => `${MOUNT}/${app}?fal_jwt_token=${encodeURIComponent(token)}`,
    wsUrl: (token: string, app = ECHO) =>
      `ws://127.0.0.1:${port}${MOUNT}/${app}?fal_jwt_token=${encodeURIComponent(token)}`,
  };
}

/** A real `ws` client that records text frames and its close. */
function client(url: string) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const frames: string[] = [];
  ws.on("message", (data: Buffer) => frames.push(data.toString()));
  ws.on("error", () => {});
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  opened.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  return { ws, frames, opened, closed };
}

/** Opens a tunnel with `url`, checks that it relays, and closes it. */
async function echoes(url: string): Promise<void> {
  const c = client(url);
  await c.opened;
  c.ws.send("still unspent");
  await expect.poll(() => c.frames).toEqual(["still unspent"]);
  c.ws.close();
  await c.closed;
}

/** Sends raw bytes and resolves with everything the server answered until it closed (or `timeout`). */
function raw(port: number, text: string, timeout = 5_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${answer}<timed out>`);
    }, timeout);
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.write(text);
  });
}

/** A WebSocket handshake written by hand: `headers` replace the defaults (`null` drops one). */
function handshake(port: number, target: string, headers: Record<string, string | null> = {}): string {
  const all: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Connection: "Upgrade",
    Upgrade: "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": KEY,
    ...headers,
  };
  const lines = [`GET ${target} HTTP/1.1`];
  for (const [name, value] of Object.entries(all)) if (value !== null) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

function errorCode(answer: string): unknown {
  return (JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { error: { code: string } }).error.code;
}

const upstreamSockets = () => mock.requests.filter((r) => r.websocket).length;
const tokenRequests = () => mock.requests.filter((r) => r.path === "/tokens/");

describe("finding 2: a token is spent only once the upgrade passed its checks", () => {
  test.each<[string, Record<string, string | null>]>([
    ["no Sec-WebSocket-Key", { "Sec-WebSocket-Key": null }],
    ["a Sec-WebSocket-Key that is not 16 bytes of base64", { "Sec-WebSocket-Key": "not-a-key" }],
    ["no Sec-WebSocket-Version", { "Sec-WebSocket-Version": null }],
    ["Sec-WebSocket-Version: 8", { "Sec-WebSocket-Version": "8" }],
    ["a malformed Sec-WebSocket-Protocol", { "Sec-WebSocket-Protocol": "a, , b" }],
  ])(
    "a handshake with %s is refused before the token is spent: the same token then opens a tunnel",
    async (_name, headers) => {
      const h = await start();
      const token = await h.token();
      const before = upstreamSockets();
      const answer = await raw(h.port, handshake(h.port, h.path(token), headers));
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(errorCode(answer)).toBe("invalid_handshake");
      expect(upstreamSockets()).toBe(before);
      await echoes(h.wsUrl(token));
    },
  );

  test("a token refused by the per-user cap is spent: a fresh token opens once a slot is free", async () => {
    const h = await start({ tunnel: { maxPerPrincipal: 1 } });
    const first = client(h.wsUrl(await h.token()));
    await first.opened;
    await expect.poll(() => h.tunnel.snapshot()[0]?.state).toBe("open");
    const second = await h.token();
    const refused = client(h.wsUrl(second));
    expect(await refused.closed).toMatchObject({ code: 1013 });
    first.ws.close();
    await first.closed;
    await expect.poll(() => h.tunnel.size).toBe(0);
    const replay = client(h.wsUrl(second));
    expect(await replay.closed).toEqual({ code: 1008, reason: "Unauthorized" });
    expect(JSON.parse(replay.frames[0] ?? "{}")).toMatchObject({
      reason: expect.stringMatching(/already used/),
    });
    await echoes(h.wsUrl(await h.token()));
  });
});

describe("review: a replayed token touches none of its victim's tunnel limits", () => {
  test("replays of a spent token take no unit of `limits.tunnels.rate`: the user's fresh token still opens", async () => {
    const h = await start({ limits: { tunnels: { rate: "2/min" } } });
    const spent = await h.token();
    await echoes(h.wsUrl(spent));
    for (let i = 0; i < 3; i++) {
      const replay = client(h.wsUrl(spent));
      expect(await replay.closed).toEqual({ code: 1008, reason: "Unauthorized" });
      expect(JSON.parse(replay.frames[0] ?? "{}")).toMatchObject({
        reason: expect.stringMatching(/already used/),
      });
    }
    await echoes(h.wsUrl(await h.token()));
  });

  test("a replay against a full per-user cap is refused as Unauthorized (1008), taking no slot", async () => {
    const h = await start({ tunnel: { maxPerPrincipal: 1 } });
    const spent = await h.token();
    const open = client(h.wsUrl(spent));
    await open.opened;
    await expect.poll(() => h.tunnel.snapshot()[0]?.state).toBe("open");
    for (let i = 0; i < 3; i++) {
      const replay = client(h.wsUrl(spent));
      expect(await replay.closed).toEqual({ code: 1008, reason: "Unauthorized" });
    }
    open.ws.close();
    await open.closed;
    await expect.poll(() => h.tunnel.size).toBe(0);
    await echoes(h.wsUrl(await h.token()));
  });
});

describe("review: the tunnel forwards no fal_webhook", () => {
  test.each([
    "fal_webhook=https%3A%2F%2Fevil.example%2Fhook",
    "fal%5Fwebhook=https%3A%2F%2Fevil.example%2Fhook",
    "FAL_WEBHOOK=https%3A%2F%2Fevil.example%2Fhook",
    "max_buffering=5&fal_webhook=",
  ])("`%s` is refused with HTTP 400 invalid_target before the upgrade; fal sees nothing", async (query) => {
    const h = await start();
    const token = await h.token();
    const before = mock.requests.length;
    const answer = await raw(h.port, handshake(h.port, `${h.path(token)}&${query}`));
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(errorCode(answer)).toBe("invalid_target");
    expect(mock.requests.length).toBe(before);
    // Refused before the token: the same token opens without the parameter.
    await echoes(h.wsUrl(token));
  });
});

describe("finding 9: non-canonical tunnel URLs get 404 and open nothing", () => {
  test.each([
    ["a `..` segment", `${MOUNT}/fal-ai/x/../echo/realtime`],
    ["a `.` segment", `${MOUNT}/fal-ai/./echo/realtime`],
    ["`%2e%2e`", `${MOUNT}/fal-ai/x/%2e%2e/echo/realtime`],
    ["`%2E%2E`", `${MOUNT}/fal-ai/x/%2E%2E/echo/realtime`],
    ["`.%2e`", `${MOUNT}/fal-ai/x/.%2e/echo/realtime`],
    ["a backslash", `${MOUNT}/fal-ai\\echo/realtime`],
    ["a `..` that climbs into the mount", `/elsewhere/..${MOUNT}/fal-ai/echo/realtime`],
  ])("%s", async (_name, path) => {
    const h = await start();
    const token = await h.token();
    const before = upstreamSockets();
    const answer = await raw(h.port, handshake(h.port, `${path}?fal_jwt_token=${token}`));
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
    expect(errorCode(answer)).toBe("not_found");
    expect(upstreamSockets()).toBe(before);
    // The canonical URL still opens with the same token: the refusal spent nothing.
    await echoes(h.wsUrl(token));
  });
});

describe("finding 2: token mints are limited per principal and seen by onRequest", () => {
  test("without any limits configured, the 61st mint within a minute is 429 rate_limited", async () => {
    const h = await start();
    for (let i = 0; i < 60; i++) expect((await h.mint({ app: ECHO })).status).toBe(200);
    const refused = await h.mint({ app: ECHO });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
  });

  test("fal token requests count as mints too, and are refused before fal sees them", async () => {
    const h = await start({ limits: { tokens: { rate: "2/min" } } });
    const before = tokenRequests().length;
    expect((await h.mint({ app: "fal-ai/fast-sdxl", type: "fal" })).status).toBe(200);
    expect((await h.proxy("https://rest.fal.ai/tokens/", { allowed_apps: ["fast-sdxl"] })).status).toBe(200);
    const refused = await h.proxy("https://rest.fal.ai/tokens/", { allowed_apps: ["fast-sdxl"] });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    expect(tokenRequests().length - before).toBe(2);
  });

  test("`limits.tokens.rate: false` turns the mint limit off", async () => {
    const h = await start({ limits: { tokens: { rate: false } } });
    for (let i = 0; i < 70; i++) expect((await h.mint({ app: ECHO })).status).toBe(200);
  });

  test("onRequest sees falgate token mints (and may refuse them), and fal token mints", async () => {
    const seen: Array<Pick<RequestInfo, "method" | "endpointId" | "mint"> & { path: string }> = [];
    const h = await start({
      onRequest: ({ method, target, endpointId, mint }) => {
        seen.push({ method, endpointId, mint, path: target.pathname });
        if (mint?.apps.includes("fal-ai/forbidden/realtime")) {
          throw new FalgateError("forbidden", "Not this one.");
        }
      },
    });
    expect((await h.mint({ app: ECHO })).status).toBe(200);
    const refused = await h.mint({ app: "fal-ai/forbidden/realtime" });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    expect((await h.mint({ app: "fal-ai/fast-sdxl", type: "fal" })).status).toBe(200);
    expect((await h.proxy("https://rest.fal.ai/tokens/", { allowed_apps: ["flux"] })).status).toBe(200);
    expect(seen).toEqual([
      { method: "POST", endpointId: null, path: `${MOUNT}/token`, mint: { type: "falgate", apps: [ECHO] } },
      {
        method: "POST",
        endpointId: null,
        path: `${MOUNT}/token`,
        mint: { type: "falgate", apps: ["fal-ai/forbidden/realtime"] },
      },
      // The token route names the app id; an intercepted request names fal's aliases.
      {
        method: "POST",
        endpointId: null,
        path: "/tokens/",
        mint: { type: "fal", apps: ["fal-ai/fast-sdxl"] },
      },
      { method: "POST", endpointId: null, path: "/tokens/", mint: { type: "fal", apps: ["flux"] } },
    ]);
  });
});

describe("finding 3: fal tokens open an alias under every owner", () => {
  test('with allowedEndpoints ["fal-ai/*"], a fal token for another owner\'s app is refused; tunnel tokens still mint', async () => {
    const h = await start({ allowedEndpoints: ["fal-ai/*"] });
    const before = tokenRequests().length;
    const intercepted = await h.proxy("https://rest.fal.ai/tokens/", {
      allowed_apps: ["some-other-owners-app"],
    });
    expect(intercepted.status).toBe(403);
    expect(((await intercepted.json()) as { error: { code: string } }).error.code).toBe(
      "endpoint_not_allowed",
    );
    const routed = await h.mint({ app: "fal-ai/some-other-owners-app", type: "fal" });
    expect(routed.status).toBe(403);
    expect(((await routed.json()) as { error: { code: string } }).error.code).toBe("endpoint_not_allowed");
    expect(tokenRequests().length).toBe(before);
    // The tunnel's tokens name the exact app id: the owner wildcard is enough for them.
    await echoes(h.wsUrl(await h.token()));
  });

  test.each<[string, string[] | undefined, string, string]>([
    ["no allowlist", undefined, "fast-sdxl", "fal-ai/fast-sdxl/realtime"],
    ["an exact app id", ["fal-ai/fast-sdxl"], "fast-sdxl", "fal-ai/fast-sdxl/realtime"],
    ["an app's paths", ["fal-ai/flux/*"], "flux", "fal-ai/flux/dev"],
    [
      "an owner wildcard plus the app",
      ["fal-ai/*", "fal-ai/fast-lcm-diffusion"],
      "fast-lcm-diffusion",
      "fal-ai/fast-lcm-diffusion/realtime",
    ],
  ])(
    "%s: the official client's fal token requests are minted",
    async (_name, allowedEndpoints, alias, app) => {
      const h = await start(allowedEndpoints ? { allowedEndpoints } : {});
      const before = tokenRequests().length;
      expect((await h.proxy("https://rest.fal.ai/tokens/", { allowed_apps: [alias] })).status).toBe(200);
      expect((await h.mint({ app, type: "fal" })).status).toBe(200);
      expect(tokenRequests().length - before).toBe(2);
    },
  );
});

describe("finding 4: an intercepted fal token request carries no query to fal", () => {
  test.each([
    "https://rest.fal.ai/tokens/?allowed_apps=*&token_expiration=86400",
    "https://rest.fal.ai/tokens/?",
    "https://rest.alpha.fal.ai/tokens/?token_expiration=86400",
  ])("%s is refused with 400 invalid_target, and fal never sees it", async (target) => {
    const h = await start();
    const before = tokenRequests().length;
    const response = await h.proxy(target, { allowed_apps: ["fast-sdxl"] });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("invalid_target");
    expect(tokenRequests().length).toBe(before);
    // Without the query, the same request is minted and fal sees no query.
    expect(
      (await h.proxy(target.slice(0, target.indexOf("?")), { allowed_apps: ["fast-sdxl"] })).status,
    ).toBe(200);
    expect(tokenRequests().at(-1)?.search).toBe("");
  });
});
