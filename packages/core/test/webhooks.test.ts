import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import {
  createFalWebhookVerifier,
  FalgateError,
  type FalWebhookOptions,
  type Logger,
  verifyFalWebhook,
} from "../src/index.js";
import { createMemoryStore } from "../src/store/memory.js";

/** A signing key as fal would hold it, and its public JWK as fal publishes it. */
interface SigningKey {
  privateKey: CryptoKey;
  jwk: JsonWebKey & { kid: string };
}

async function signingKey(kid: string): Promise<SigningKey> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const { kty, crv, x } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { privateKey: pair.privateKey, jwk: { kty, crv, x, kid, use: "sig", alg: "EdDSA" } };
}

interface Delivery {
  requestId?: string;
  userId?: string;
  timestamp?: number | string;
  body?: string | Uint8Array<ArrayBuffer>;
}

/**
 * Signs a delivery the way fal documents it, independently of the code under test (node:crypto for the hash).
 * Returns the request fal would send.
 */
async function signed(
  key: SigningKey,
  delivery: Delivery = {},
  url = "https://app.test/hooks/fal",
): Promise<Request> {
  const requestId = delivery.requestId ?? crypto.randomUUID();
  const userId = delivery.userId ?? "github|4242";
  const timestamp = String(delivery.timestamp ?? Math.floor(Date.now() / 1000));
  const body =
    delivery.body ??
    JSON.stringify({
      request_id: requestId,
      gateway_request_id: requestId,
      status: "OK",
      payload: { images: [{ url: "https://fal.media/x.png" }] },
    });
  const digest = createHash("sha256").update(body).digest("hex");
  const message = new TextEncoder().encode(`${requestId}\n${userId}\n${timestamp}\n${digest}`);
  const signature = Buffer.from(await crypto.subtle.sign("Ed25519", key.privateKey, message)).toString("hex");
  return new Request(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-fal-webhook-request-id": requestId,
      "x-fal-webhook-user-id": userId,
      "x-fal-webhook-timestamp": timestamp,
      "x-fal-webhook-signature": signature,
    },
    body,
  });
}

/** Rebuilds a request with some headers or the body replaced. */
function altered(request: Request, body: string, headers: Record<string, string | null> = {}): Request {
  const h = new Headers(request.headers);
  for (const [name, value] of Object.entries(headers)) {
    if (value === null) h.delete(name);
    else h.set(name, value);
  }
  return new Request(request.url, { method: "POST", headers: h, body });
}

/** A real key set server on loopback; what it serves can change during a test. */
interface JwksServer {
  url: string;
  keys: JsonWebKey[];
  /** Number of GETs served. */
  hits: number;
  /** Answer with this status instead of the set. */
  status: number;
  /** Drop connections without answering (the key set is unreachable). */
  down: boolean;
  cacheControl: string | undefined;
  /** Delay each answer (to see concurrent callers share one fetch). */
  delayMs: number;
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function jwksServer(keys: SigningKey[]): Promise<JwksServer> {
  const state: JwksServer = {
    url: "",
    keys: keys.map((k) => k.jwk),
    hits: 0,
    status: 200,
    down: false,
    cacheControl: undefined,
    delayMs: 0,
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    state.hits++;
    if (state.down) return void req.socket.destroy();
    setTimeout(() => {
      const body = JSON.stringify({ keys: state.keys });
      res.writeHead(state.status, {
        "content-type": "application/json",
        ...(state.cacheControl ? { "cache-control": state.cacheControl } : {}),
      });
      res.end(state.status === 200 ? body : "{}");
    }, state.delayMs);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  return state;
}

function quiet(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  return { lines, warn: push, error: push };
}

/** Options for one test: its own key set URL, replay store and logger. */
function optionsFor(jwks: JwksServer, extra: FalWebhookOptions = {}): FalWebhookOptions {
  return { jwksUrl: jwks.url, store: createMemoryStore(), logger: quiet(), ...extra };
}

async function refusal(promise: Promise<unknown>): Promise<FalgateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the webhook was accepted").toBeInstanceOf(FalgateError);
  return error as FalgateError;
}

describe("verifyFalWebhook", () => {
  test("a delivery signed by fal's key resolves with the parsed payload", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const request = await signed(key, { requestId: "req-1" });
    const event = await verifyFalWebhook<{ images: { url: string }[] }>(request, optionsFor(jwks));
    expect(event).toEqual({
      request_id: "req-1",
      gateway_request_id: "req-1",
      status: "OK",
      payload: { images: [{ url: "https://fal.media/x.png" }] },
    });
    if (event.status === "OK") expect(event.payload?.images[0]?.url).toBe("https://fal.media/x.png");
  });

  test("an ERROR delivery and one whose payload fal could not serialise are typed and passed on", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const options = optionsFor(jwks);
    const failure = {
      request_id: "r-err",
      gateway_request_id: "g-2",
      status: "ERROR",
      error: "Invalid status code: 422",
      payload: { detail: [{ loc: ["body", "prompt"], msg: "Field required", type: "missing" }] },
    };
    const event = await verifyFalWebhook(await signed(key, { body: JSON.stringify(failure) }), options);
    expect(event).toEqual(failure);
    expect(event.status === "ERROR" && event.error).toBe("Invalid status code: 422");
    const unserialisable = { request_id: "r-3", status: "OK", payload: null, payload_error: "not JSON" };
    expect(
      await verifyFalWebhook(await signed(key, { body: JSON.stringify(unserialisable) }), options),
    ).toEqual({ ...unserialisable, gateway_request_id: "r-3" });
  });

  test("a tampered body is refused, even one byte", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const request = await signed(key, { requestId: "req-t" });
    const body = await request.clone().text();
    const tampered = body.replace("x.png", "y.png");
    const error = await refusal(verifyFalWebhook(altered(request, tampered), optionsFor(jwks)));
    expect(error.code).toBe("invalid_webhook");
    expect(error.status).toBe(401);
    expect(error.message).toMatch(/signature does not verify/);
    // Whitespace counts too: the signature covers the bytes, not the JSON value.
    const reformatted = JSON.stringify(JSON.parse(body), null, 1);
    expect((await refusal(verifyFalWebhook(altered(request, reformatted), optionsFor(jwks)))).code).toBe(
      "invalid_webhook",
    );
  });

  test("each signed header is bound: changing the request id, user id or timestamp breaks the signature", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const request = await signed(key);
    const body = await request.clone().text();
    const ts = request.headers.get("x-fal-webhook-timestamp")!;
    const changes: Record<string, string>[] = [
      { "x-fal-webhook-request-id": "other" },
      { "x-fal-webhook-user-id": "someone-else" },
      { "x-fal-webhook-timestamp": String(Number(ts) - 1) },
    ];
    for (const change of changes) {
      const error = await refusal(verifyFalWebhook(altered(request, body, change), optionsFor(jwks)));
      expect(error.message).toMatch(/signature does not verify/);
    }
  });

  test("a delivery signed by a key that is not in the key set is refused", async () => {
    const fal = await signingKey("fal");
    const attacker = await signingKey("fal"); // same kid, different key
    const jwks = await jwksServer([fal]);
    const error = await refusal(verifyFalWebhook(await signed(attacker), optionsFor(jwks)));
    expect(error.code).toBe("invalid_webhook");
    expect(error.message).toMatch(/does not verify with any key of the fal key set/);
  });

  test("rotation: with the old and the new key in the set, deliveries signed by either verify", async () => {
    const old = await signingKey("2025");
    const next = await signingKey("2026");
    const jwks = await jwksServer([old, next]);
    const options = optionsFor(jwks);
    await expect(verifyFalWebhook(await signed(old), options)).resolves.toMatchObject({ status: "OK" });
    await expect(verifyFalWebhook(await signed(next), options)).resolves.toMatchObject({ status: "OK" });
    expect(jwks.hits).toBe(1);
  });

  test("rotation: a key published after the set was cached is fetched once, and a cooldown limits refetches", async () => {
    const old = await signingKey("old");
    const next = await signingKey("new");
    const stranger = await signingKey("stranger");
    const jwks = await jwksServer([old]);
    let now = Date.now();
    const options = optionsFor(jwks, { now: () => now, jwksCooldown: 60 });
    const ts = () => Math.floor(now / 1000);
    await verifyFalWebhook(await signed(old, { timestamp: ts() }), options);
    now += 61_000;
    jwks.keys = [old.jwk, next.jwk];
    await expect(verifyFalWebhook(await signed(next, { timestamp: ts() }), options)).resolves.toMatchObject({
      status: "OK",
    });
    expect(jwks.hits).toBe(2);
    // Unknown signatures within the cooldown do not hit the key set again.
    for (let i = 0; i < 3; i++) {
      await refusal(verifyFalWebhook(await signed(stranger, { timestamp: ts() }), options));
    }
    expect(jwks.hits).toBe(2);
    now += 61_000;
    await refusal(verifyFalWebhook(await signed(stranger, { timestamp: ts() }), options));
    expect(jwks.hits).toBe(3);
  });

  test("a key removed from the set stops verifying once the set is fetched again", async () => {
    const old = await signingKey("old");
    const next = await signingKey("new");
    const jwks = await jwksServer([old, next]);
    let now = Date.now();
    const options = optionsFor(jwks, { now: () => now, jwksMaxAge: 3600 });
    await verifyFalWebhook(await signed(old, { timestamp: Math.floor(now / 1000) }), options);
    jwks.keys = [next.jwk];
    now += 3601_000;
    await refusal(verifyFalWebhook(await signed(old, { timestamp: Math.floor(now / 1000) }), options));
    await verifyFalWebhook(await signed(next, { timestamp: Math.floor(now / 1000) }), options);
    expect(jwks.hits).toBe(2);
  });

  test("timestamps outside ±300 s are refused as stale or future; the edges pass", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const now = 1_750_000_000_000;
    const options = optionsFor(jwks, { now: () => now });
    const at = now / 1000;
    const stale = await refusal(verifyFalWebhook(await signed(key, { timestamp: at - 301 }), options));
    expect(stale.code).toBe("invalid_webhook");
    expect(stale.message).toMatch(/301 s old, outside the 300 s tolerance/);
    const future = await refusal(verifyFalWebhook(await signed(key, { timestamp: at + 301 }), options));
    expect(future.message).toMatch(/301 s in the future/);
    await expect(verifyFalWebhook(await signed(key, { timestamp: at - 300 }), options)).resolves.toBeTruthy();
    await expect(verifyFalWebhook(await signed(key, { timestamp: at + 300 }), options)).resolves.toBeTruthy();
    // A stale delivery is refused before its body is read or the key set is fetched.
    const other = await jwksServer([key]);
    await refusal(
      verifyFalWebhook(await signed(key, { timestamp: at - 1000 }), optionsFor(other, { now: () => now })),
    );
    expect(other.hits).toBe(0);
  });

  test("`tolerance` narrows the window", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const now = Date.now();
    const options = optionsFor(jwks, { now: () => now, tolerance: 10 });
    const error = await refusal(
      verifyFalWebhook(await signed(key, { timestamp: Math.floor(now / 1000) - 11 }), options),
    );
    expect(error.message).toMatch(/outside the 10 s tolerance/);
  });

  test("a replayed delivery (same request id and timestamp) is refused; fal's re-signed retry is accepted", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const options = optionsFor(jwks);
    const first = await signed(key, {
      requestId: "req-replay",
      timestamp: Math.floor(Date.now() / 1000) - 5,
    });
    const copy = first.clone();
    await verifyFalWebhook(first, options);
    const error = await refusal(verifyFalWebhook(copy, options));
    expect(error.code).toBe("invalid_webhook");
    expect(error.message).toMatch(/"req-replay" .* already received \(replay\)/);
    // fal retries a delivery the app did not acknowledge with a fresh timestamp and signature.
    const retry = await signed(key, { requestId: "req-replay" });
    await expect(verifyFalWebhook(retry, options)).resolves.toMatchObject({ request_id: "req-replay" });
  });

  test("replay entries go to the given store under a webhook: key, kept while the timestamp is in the window", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const now = 1_750_000_000_000;
    const calls: Array<[string, number]> = [];
    const seen = new Set<string>();
    const store = {
      async addOnce(k: string, ttlMs: number) {
        calls.push([k, ttlMs]);
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      },
    };
    const options = optionsFor(jwks, { now: () => now, store });
    const ts = now / 1000 - 100;
    const request = await signed(key, { requestId: "abc", timestamp: ts });
    const copy = request.clone();
    await verifyFalWebhook(request, options);
    await refusal(verifyFalWebhook(copy, options));
    expect(calls).toEqual([
      [`webhook:abc:${ts}`, 201_000],
      [`webhook:abc:${ts}`, 201_000],
    ]);
    // Unverified requests never reach the store.
    await refusal(verifyFalWebhook(altered(await signed(key, { timestamp: ts }), "{}"), options));
    expect(calls).toHaveLength(2);
  });

  test("a failing replay store answers internal_error (fal retries) and is logged", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    const logger = quiet();
    const store = {
      addOnce: async () => {
        throw new Error("ECONNREFUSED redis");
      },
    };
    const error = await refusal(verifyFalWebhook(await signed(key), optionsFor(jwks, { store, logger })));
    expect(error.code).toBe("internal_error");
    expect(error.status).toBe(500);
    expect(logger.lines.join("\n")).toMatch(/replay store failed.*ECONNREFUSED/);
  });

  test("the key set unreachable: cached keys still verify, an unknown key is refused", async () => {
    const key = await signingKey("k1");
    const unknown = await signingKey("k2");
    const jwks = await jwksServer([key]);
    let now = Date.now();
    const logger = quiet();
    const options = optionsFor(jwks, { now: () => now, logger, jwksMaxAge: 600 });
    const ts = () => Math.floor(now / 1000);
    await verifyFalWebhook(await signed(key, { timestamp: ts() }), options);
    jwks.down = true;
    now += 601_000; // the cached set expired: a refetch is attempted and fails
    await expect(verifyFalWebhook(await signed(key, { timestamp: ts() }), options)).resolves.toBeTruthy();
    expect(jwks.hits).toBe(2);
    expect(logger.lines.join("\n")).toMatch(/key set fetch failed.*network error.*"cachedKeys":1/);
    now += 61_000;
    const error = await refusal(verifyFalWebhook(await signed(unknown, { timestamp: ts() }), options));
    expect(error.code).toBe("invalid_webhook");
    expect(error.message).toMatch(/does not verify with any key/);
    // An HTTP error from the key set counts as unreachable as well.
    jwks.down = false;
    jwks.status = 503;
    now += 61_000;
    await expect(verifyFalWebhook(await signed(key, { timestamp: ts() }), options)).resolves.toBeTruthy();
    expect(logger.lines.join("\n")).toMatch(/HTTP 503/);
  });

  test("no key ever fetched: invalid_webhook says the key set could not be fetched, and it is logged", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    jwks.down = true;
    const logger = quiet();
    const options = optionsFor(jwks, { logger });
    const error = await refusal(verifyFalWebhook(await signed(key), options));
    expect(error.code).toBe("invalid_webhook");
    expect(error.message).toBe(
      `The fal webhook key set could not be fetched from ${jwks.url} (network error); no key is available to verify the signature.`,
    );
    expect(logger.lines).toHaveLength(1);
    // Within the cooldown the next delivery fails fast without another fetch.
    await refusal(verifyFalWebhook(await signed(key), options));
    expect(jwks.hits).toBe(1);
  });

  test("a key set without usable Ed25519 keys counts as not fetched", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([]);
    jwks.keys = [
      { kty: "RSA", n: "AQAB", e: "AQAB" },
      { kty: "OKP", crv: "X25519", x: key.jwk.x! },
      { kty: "OKP", crv: "Ed25519", x: key.jwk.x!, use: "enc" },
      { kty: "OKP", crv: "Ed25519", x: "too-short" },
    ];
    const error = await refusal(verifyFalWebhook(await signed(key), optionsFor(jwks)));
    expect(error.message).toMatch(/could not be fetched .*no usable OKP Ed25519 key/);
  });

  test("concurrent deliveries share one key set fetch", async () => {
    const key = await signingKey("k1");
    const jwks = await jwksServer([key]);
    jwks.delayMs = 100;
    const options = optionsFor(jwks);
    const requests = await Promise.all(Array.from({ length: 8 }, () => signed(key)));
    const events = await Promise.all(requests.map((r) => verifyFalWebhook(r, options)));
    expect(events).toHaveLength(8);
    expect(jwks.hits).toBe(1);
  });

  test("the key set is cached up to jwksMaxAge, or a shorter cache-control max-age (never under 60 s)", async () => {
    const key = await signingKey("k1");
    const check = async (cacheControl: string | undefined, steps: number[], expectedHits: number) => {
      const jwks = await jwksServer([key]);
      jwks.cacheControl = cacheControl;
      let now = Date.now();
      const options = optionsFor(jwks, { now: () => now });
      for (const step of [0, ...steps]) {
        now += step;
        await verifyFalWebhook(await signed(key, { timestamp: Math.floor(now / 1000) }), options);
      }
      expect(jwks.hits, String(cacheControl)).toBe(expectedHits);
    };
    await check(undefined, [23 * 3600_000], 1);
    await check(undefined, [24 * 3600_000 + 1], 2);
    await check("public, max-age=120", [119_000], 1);
    await check("public, max-age=120", [121_000], 2);
    await check("max-age=0", [59_000], 1);
    await check("no-store", [61_000], 2);
    await check("max-age=999999", [23 * 3600_000], 1);
  });

  test("the key set's `alg` spelling does not matter (EdDSA, Ed25519 or none)", async () => {
    for (const alg of ["EdDSA", "Ed25519", undefined]) {
      const key = await signingKey("k");
      const jwks = await jwksServer([key]);
      jwks.keys = [{ ...key.jwk, alg }];
      await expect(verifyFalWebhook(await signed(key), optionsFor(jwks))).resolves.toBeTruthy();
    }
  });

  describe("malformed deliveries get a clear invalid_webhook message", () => {
    const cases: Array<[string, Record<string, string | null>, RegExp]> = [
      ["no request id", { "x-fal-webhook-request-id": null }, /no x-fal-webhook-request-id header/],
      ["no user id", { "x-fal-webhook-user-id": null }, /no x-fal-webhook-user-id header/],
      ["no timestamp", { "x-fal-webhook-timestamp": null }, /no x-fal-webhook-timestamp header/],
      ["no signature", { "x-fal-webhook-signature": null }, /no x-fal-webhook-signature header/],
      ["an ISO timestamp", { "x-fal-webhook-timestamp": "2026-01-01T00:00:00Z" }, /must be unix seconds/],
      ["a millisecond-ish float", { "x-fal-webhook-timestamp": "1750000000.5" }, /must be unix seconds/],
      ["a base64 signature", { "x-fal-webhook-signature": "q83vEjRWeJA=" }, /must be 128 hex digits/],
      ["a short hex signature", { "x-fal-webhook-signature": "ab".repeat(63) }, /must be 128 hex digits/],
      ["a non-ASCII id", { "x-fal-webhook-request-id": "r\u00e9q" }, /must be a printable id/],
    ];
    test.each(cases)("%s", async (_name, headers, message) => {
      const key = await signingKey("k1");
      const jwks = await jwksServer([key]);
      const request = await signed(key);
      const error = await refusal(
        verifyFalWebhook(altered(request, await request.clone().text(), headers), optionsFor(jwks)),
      );
      expect(error.code).toBe("invalid_webhook");
      expect(error.message).toMatch(message);
    });

    test("a body over maxBodySize (declared, or streamed without a length)", async () => {
      const key = await signingKey("k1");
      const jwks = await jwksServer([key]);
      const big = JSON.stringify({ request_id: "r", status: "OK", payload: "x".repeat(2000) });
      const declared = await signed(key, { body: big });
      const headers = new Headers(declared.headers);
      headers.set("content-length", String(big.length));
      const withLength = new Request(declared.url, { method: "POST", headers, body: big });
      const options = optionsFor(jwks, { maxBodySize: 1000 });
      expect((await refusal(verifyFalWebhook(withLength, options))).message).toMatch(
        /exceeds the 1000 byte limit \(option `maxBodySize`\)/,
      );
      const streamed = new Request(declared.url, {
        method: "POST",
        headers: declared.headers,
        body: new Blob([big]).stream(),
        duplex: "half",
      } as RequestInit);
      expect((await refusal(verifyFalWebhook(streamed, options))).message).toMatch(
        /exceeds the 1000 byte limit/,
      );
    });

    test("a signed body that is not JSON, not UTF-8, or not a fal payload", async () => {
      const key = await signingKey("k1");
      const jwks = await jwksServer([key]);
      const options = optionsFor(jwks);
      for (const [body, message] of [
        ["not json", /not valid UTF-8 JSON/],
        [new Uint8Array([0x7b, 0xff, 0x7d]), /not valid UTF-8 JSON/],
        ["[1,2]", /not a JSON object/],
        ['{"status":"OK"}', /not a fal webhook payload/],
        ['{"request_id":"r","status":"DONE"}', /not a fal webhook payload/],
      ] as const) {
        const error = await refusal(verifyFalWebhook(await signed(key, { body }), options));
        expect(error.code).toBe("invalid_webhook");
        expect(error.message).toMatch(message);
      }
    });

    test("a method other than POST is method_not_allowed with allow: POST", async () => {
      const error = await refusal(verifyFalWebhook(new Request("https://app.test/hook"), {}));
      expect(error.code).toBe("method_not_allowed");
      expect(error.headers.allow).toBe("POST");
    });

    test("a body read before verification is a clear internal_error, not a bad signature", async () => {
      const key = await signingKey("k1");
      const jwks = await jwksServer([key]);
      const request = await signed(key);
      await request.json();
      const error = await refusal(verifyFalWebhook(request, optionsFor(jwks)));
      expect(error.code).toBe("internal_error");
      expect(error.message).toMatch(/already read.*raw bytes/);
    });
  });

  test("bad options throw a TypeError naming the option when the verifier is created", () => {
    expect(() => createFalWebhookVerifier({ jwksUrl: "http://keys.example.com/jwks.json" })).toThrow(
      /`jwksUrl`/,
    );
    expect(() => createFalWebhookVerifier({ jwksUrl: "not a url" })).toThrow(/`jwksUrl`/);
    expect(() => createFalWebhookVerifier({ tolerance: 0 })).toThrow(/`tolerance`/);
    expect(() => createFalWebhookVerifier({ tolerance: Number.NaN })).toThrow(/`tolerance`/);
    expect(() => createFalWebhookVerifier({ maxBodySize: -1 })).toThrow(/`maxBodySize`/);
    expect(() => createFalWebhookVerifier({ jwksMaxAge: 10 })).toThrow(/`jwksMaxAge`/);
    expect(() => createFalWebhookVerifier({ jwksCooldown: -1 })).toThrow(/`jwksCooldown`/);
    expect(() => createFalWebhookVerifier({ store: {} as never })).toThrow(/`store`/);
    expect(() => createFalWebhookVerifier({ fetch: "fetch" as never })).toThrow(/`fetch`/);
    expect(() =>
      createFalWebhookVerifier({ jwksUrl: "http://127.0.0.1:4010/.well-known/jwks.json" }),
    ).not.toThrow();
    expect(() => createFalWebhookVerifier({ jwksUrl: "http://localhost:4010/jwks" })).not.toThrow();
    expect(() => createFalWebhookVerifier()).not.toThrow();
  });

  test("a custom fetch is used for the key set, and the default URL is fal's", async () => {
    const key = await signingKey("k1");
    const seen: string[] = [];
    const fetch = async (input: Request | string | URL) => {
      seen.push(String(input instanceof Request ? input.url : input));
      return Response.json({ keys: [key.jwk] });
    };
    await verifyFalWebhook(await signed(key), { fetch, store: createMemoryStore() });
    expect(seen).toEqual(["https://rest.fal.ai/.well-known/jwks.json"]);
  });
});
