// bearerJwt inside workerd (miniflare): jose on WebCrypto, the key set fetched by the Worker over loopback.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { bundleWorker, type RunningWorker, send, startWorker } from "@falgate/testkit";
import {
  base64url,
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const ISSUER = "https://issuer.falgate.test/";
const AUDIENCE = "https://api.falgate.test";
const SUPABASE_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

interface Key {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function key(alg: string, kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

function sign(k: Key, extra: JWTPayload = {}): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: `user-${k.alg}`, iat, exp: iat + 300, ...extra })
    .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: "JWT" })
    .sign(k.privateKey);
}

describe("bearerJwt in workerd", () => {
  let mock: MockFal;
  let worker: RunningWorker;
  let jwks: Server;
  let silent: Server;
  let jwksHits = 0;
  let keys: Key[];

  beforeAll(async () => {
    keys = await Promise.all([key("RS256", "rs"), key("ES256", "es"), key("EdDSA", "ed")]);
    jwks = createServer((_req, res) => {
      jwksHits++;
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    mock = await startMockFal({ runMs: 10 });
    worker = await startWorker(await bundleWorker(join(__dirname, "fixtures/bearer-worker.ts")), {
      JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`,
      HANGING_JWKS_URL: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/.well-known/jwks.json`,
      SUPABASE_JWT_SECRET: SUPABASE_SECRET,
      FAL_KEY: mock.key,
      FALGATE_UPSTREAM: mock.url,
    });
  });
  afterAll(async () => {
    await worker?.close();
    await mock?.close();
    for (const server of [jwks, silent]) {
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
  });

  const run = (path: string, headers: Record<string, string>) =>
    send(`${worker.origin}${path}`, {
      method: "POST",
      headers: {
        "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl",
        "content-type": "application/json",
        ...headers,
      },
      body: JSON.stringify({ prompt: "workerd" }),
    });

  test("RS256, ES256 and EdDSA tokens verify against the fetched key set; the set is fetched once", async () => {
    for (const k of keys) {
      const res = await run("/rs/api/fal/proxy", { authorization: `Bearer ${await sign(k)}` });
      expect(res.status, k.alg).toBe(200);
      expect(res.json<{ prompt: string }>().prompt).toBe("workerd");
    }
    expect(jwksHits).toBe(1);
    const seen = await mock.waitForRequest((r) => r.method === "POST");
    expect(seen.headers.authorization).toBe(`Key ${mock.key}`);
  });

  test("expired, foreign-audience and unsigned tokens get 401 unauthenticated", async () => {
    const [rs] = keys;
    const expired = await run("/rs/api/fal/proxy", {
      authorization: `Bearer ${await sign(rs!, { exp: Math.floor(Date.now() / 1000) - 600 })}`,
    });
    expect(expired.status).toBe(401);
    expect(expired.json()).toMatchObject({
      error: { code: "unauthenticated", message: expect.stringMatching(/expired/) },
    });
    const foreign = await run("/rs/api/fal/proxy", {
      authorization: `Bearer ${await sign(rs!, { aud: "other" })}`,
    });
    expect(foreign.json<{ message: string }>().message).toMatch(/audience/);
    const none = `${base64url.encode('{"alg":"none"}')}.${base64url.encode(JSON.stringify({ sub: "x" }))}.AAAA`;
    expect((await run("/rs/api/fal/proxy", { authorization: `Bearer ${none}` })).status).toBe(401);
    expect((await run("/rs/api/fal/proxy", {})).headers["www-authenticate"]).toBe("Bearer");
  });

  test("a Supabase session cookie verified with the secret from the Worker's bindings", async () => {
    const iat = Math.floor(Date.now() / 1000);
    const accessToken = await new SignJWT({
      iss: "https://abcdefghijklmnopqrst.supabase.co/auth/v1",
      sub: "8a9b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
      aud: "authenticated",
      exp: iat + 3600,
      iat,
      role: "authenticated",
      is_anonymous: false,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(SUPABASE_SECRET));
    const value = `base64-${base64url.encode(JSON.stringify({ access_token: accessToken, token_type: "bearer" }))}`;
    const ok = await run("/hs/api/fal/proxy", { cookie: `sb-abcdefghijklmnopqrst-auth-token=${value}` });
    expect(ok.status).toBe(200);
    const forged = await new SignJWT({
      ...JSON.parse(new TextDecoder().decode(base64url.decode(accessToken.split(".")[1]!))),
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(`${SUPABASE_SECRET}-not-the-project-secret`));
    expect((await run("/hs/api/fal/proxy", { authorization: `Bearer ${forged}` })).status).toBe(401);
  });

  test("a key set that never answers is an outage: 503 within the timeout, then fast during the cooldown", async () => {
    const token = `Bearer ${await sign(keys[0]!)}`;
    let started = Date.now();
    const res = await run("/down/api/fal/proxy", { authorization: token });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({
      error: {
        code: "auth_unavailable",
        message: expect.stringMatching(/signing keys could not be fetched/),
      },
    });
    started = Date.now();
    expect((await run("/down/api/fal/proxy", { authorization: token })).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(400);
    // An unknown key id inside the cooldown after a good fetch is the token's problem, not a refetch.
    const stranger = await key("RS256", "stranger");
    const unknown = await run("/rs/api/fal/proxy", { authorization: `Bearer ${await sign(stranger)}` });
    expect(unknown.status).toBe(401);
    expect(jwksHits).toBe(1);
  });
});
