import { base64url, type JWTPayload, SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import {
  BEARER_JWT_DEFAULTS,
  type BearerJwtOptions,
  bearerJwt,
  createFalgate,
  FalgateError,
  type Logger,
  type Principal,
} from "../src/index.js";
import {
  type IdentityProvider,
  now,
  type SigningKey,
  signingKey,
  startIdentityProvider,
} from "./identity-provider.js";
import { startUpstream } from "./upstream.js";

const ISSUER = "https://issuer.test/";
const AUDIENCE = "https://api.example.com";
const SECRET = "a-shared-hs256-secret-of-at-least-32-bytes";

let idp: IdentityProvider;
let rsa: SigningKey;
let ec: SigningKey;
let upstream: Awaited<ReturnType<typeof startUpstream>>;

beforeAll(async () => {
  rsa = await signingKey("RS256", "rsa-1");
  ec = await signingKey("ES256", "ec-1");
  idp = await startIdentityProvider([rsa, ec]);
  upstream = await startUpstream((_req, res) =>
    res.writeHead(200, { "content-type": "application/json" }).end("{}"),
  );
});
afterAll(async () => {
  await idp?.close();
  await upstream?.close();
});
afterEach(() => {
  idp.keys = [rsa, ec];
  idp.mode = "ok";
});

function silent(): Logger & { warn: ReturnType<typeof vi.fn>; error: ReturnType<typeof vi.fn> } {
  return { warn: vi.fn(), error: vi.fn() };
}

/** Options every test starts from: the local key set, issuer and audience pinned. */
function base(extra: Partial<BearerJwtOptions> = {}): BearerJwtOptions {
  return { jwksUrl: idp.jwksUrl, issuer: ISSUER, audience: AUDIENCE, logger: silent(), ...extra };
}

function claims(extra: JWTPayload = {}): JWTPayload {
  const t = now();
  return { iss: ISSUER, aud: AUDIENCE, sub: "user-1", iat: t, exp: t + 300, ...extra };
}

function call(headers: Record<string, string> = {}): Request {
  return new Request("http://app.test/api/fal/proxy", {
    method: "POST",
    headers: {
      "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl",
      "content-type": "application/json",
      ...headers,
    },
    body: "{}",
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Flips one character in the middle of the signature (the last one may only carry padding bits). */
function tamper(token: string): string {
  const at = token.lastIndexOf(".") + 10;
  return token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
}

async function refusal(promise: Promise<unknown>): Promise<FalgateError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a refusal");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FalgateError);
  return error as FalgateError;
}

describe("bearerJwt through a falgate instance", () => {
  test("a valid bearer token is forwarded as its subject; no token answers 401 with WWW-Authenticate", async () => {
    const principals: Principal[] = [];
    const falgate = createFalgate({
      authorize: bearerJwt(base()),
      credentials: "key-id:key-secret",
      upstream: upstream.url,
      onRequest: ({ principal }) => {
        principals.push(principal);
      },
      logger: silent(),
    });
    const token = await idp.sign(claims({ sub: "user-42" }));
    const ok = await falgate.fetch(call(bearer(token)));
    expect(ok.status).toBe(200);
    expect(principals).toEqual([{ id: "user-42" }]);
    // The caller's token never reaches fal: falgate sends its own key.
    expect(upstream.seen.at(-1)?.headers.authorization).toBe("Key key-id:key-secret");

    const anonymous = await falgate.fetch(call());
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe("Bearer");
    expect(await anonymous.json()).toMatchObject({
      error: { code: "unauthenticated", message: expect.stringMatching(/Authorization: Bearer/) },
    });

    const bad = await falgate.fetch(call(bearer(tamper(token))));
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    const text = await bad.text();
    // Nothing of the token is echoed back.
    for (const part of token.split(".")) expect(text).not.toContain(part.slice(0, 16));
  });

  test("principal maps claims: endpoints narrow what the caller may use, null refuses", async () => {
    const falgate = createFalgate({
      authorize: bearerJwt(
        base({
          principal: async (c) =>
            c.plan === "banned"
              ? null
              : { id: String(c.sub), endpoints: c.plan === "pro" ? undefined : ["fal-ai/flux/*"] },
        }),
      ),
      credentials: "key-id:key-secret",
      upstream: upstream.url,
      logger: silent(),
    });
    const free = await falgate.fetch(call(bearer(await idp.sign(claims({ plan: "free" })))));
    expect(free.status).toBe(403);
    expect(await free.json()).toMatchObject({ error: { code: "endpoint_not_allowed" } });
    const pro = await falgate.fetch(call(bearer(await idp.sign(claims({ plan: "pro" })))));
    expect(pro.status).toBe(200);
    const banned = await falgate.fetch(call(bearer(await idp.sign(claims({ plan: "banned" })))));
    expect(banned.status).toBe(401);
  });

  test("a secret read from the env per request (Workers), and a missing one answers 500", async () => {
    const falgate = createFalgate({
      authorize: bearerJwt({
        secret: (env) => env.JWT_SECRET as string | undefined,
        issuer: ISSUER,
        audience: AUDIENCE,
        logger: silent(),
      }),
      credentials: "key-id:key-secret",
      upstream: upstream.url,
      logger: silent(),
    });
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(SECRET));
    expect((await falgate.fetch(call(bearer(token)), { JWT_SECRET: SECRET })).status).toBe(200);
    const other = await falgate.fetch(call(bearer(token)), { JWT_SECRET: `${SECRET}-rotated` });
    expect(other.status).toBe(401);
    const missing = await falgate.fetch(call(bearer(token)), {});
    expect(missing.status).toBe(500);
    expect(await missing.json()).toMatchObject({ error: { code: "internal_error" } });
  });
});

describe("bearerJwt verification", () => {
  test("the first call fetches the key set once; later calls use the cache", async () => {
    const hook = bearerJwt(base());
    const before = idp.hits;
    const tokens = await Promise.all([1, 2, 3].map((i) => idp.sign(claims({ sub: `u${i}` }))));
    const results = await Promise.all(tokens.map((t) => hook(call(bearer(t)))));
    expect(results).toEqual([{ id: "u1" }, { id: "u2" }, { id: "u3" }]);
    expect(idp.hits - before).toBe(1);
    await hook(call(bearer(tokens[0]!)));
    expect(idp.hits - before).toBe(1);
  });

  test.each([
    ["expired", { exp: now() - 60 }, /has expired/],
    ["not valid yet", { nbf: now() + 120 }, /not valid yet/],
    ["another issuer", { iss: "https://evil.test/" }, /another issuer/],
    ["another audience", { aud: "https://other-api.example.com" }, /another audience/],
    ["no expiry", { exp: undefined }, /no `exp` claim/],
    ["no subject", { sub: undefined }, /no `sub` claim/],
  ])("refuses a token with %s (401)", async (_, extra, message) => {
    const hook = bearerJwt(base());
    const error = await refusal(hook(call(bearer(await idp.sign(claims(extra))))));
    expect(error.status).toBe(401);
    expect(error.code).toBe("unauthenticated");
    expect(error.message).toMatch(message);
  });

  test("tolerates small clock skew only", async () => {
    const hook = bearerJwt(base());
    expect(await hook(call(bearer(await idp.sign(claims({ exp: now() - 2 })))))).toEqual({ id: "user-1" });
    await refusal(
      hook(call(bearer(await idp.sign(claims({ exp: now() - BEARER_JWT_DEFAULTS.clockTolerance - 5 }))))),
    );
  });

  test("maxTokenAge refuses old tokens whatever their expiry", async () => {
    const hook = bearerJwt(base({ maxTokenAge: 60 }));
    const old = await idp.sign(claims({ iat: now() - 600, exp: now() + 600 }));
    expect((await refusal(hook(call(bearer(old))))).message).toMatch(/too old/);
  });

  test("algorithms are pinned: an ES256 token from the same key set is refused unless listed", async () => {
    const token = await idp.sign(claims(), { key: ec });
    const rsaOnly = bearerJwt(base());
    expect((await refusal(rsaOnly(call(bearer(token))))).message).toMatch(/algorithm .*accepted: RS256/);
    const both = bearerJwt(base({ algorithms: ["RS256", "ES256"] }));
    expect(await both(call(bearer(token)))).toEqual({ id: "user-1" });
  });

  test('unsigned ("none") and HS256-with-the-public-key (algorithm confusion) tokens are refused', async () => {
    const hook = bearerJwt(base({ algorithms: ["RS256", "ES256"] }));
    const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
    const unsigned = `${enc({ alg: "none", typ: "JWT" })}.${enc(claims())}.`;
    expect((await refusal(hook(call(bearer(unsigned))))).code).toBe("unauthenticated");
    const unsignedWithSig = `${enc({ alg: "none" })}.${enc(claims())}.AAAA`;
    expect((await refusal(hook(call(bearer(unsignedWithSig))))).message).toMatch(/algorithm/);
    // The classic attack: HMAC-sign with the RSA public key as the secret.
    const publicBytes = new TextEncoder().encode(JSON.stringify(rsa.jwk));
    const confused = await new SignJWT(claims())
      .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
      .sign(publicBytes);
    expect((await refusal(hook(call(bearer(confused))))).message).toMatch(/algorithm/);
  });

  test("a tampered payload fails the signature", async () => {
    const hook = bearerJwt(base());
    const [h, , s] = (await idp.sign(claims())).split(".");
    const forged = `${h}.${base64url.encode(JSON.stringify(claims({ sub: "admin" })))}.${s}`;
    expect((await refusal(hook(call(bearer(forged))))).message).toMatch(/invalid signature/);
  });

  test("a token signed by a key outside the set is refused", async () => {
    const hook = bearerJwt(base());
    const stranger = await signingKey("RS256", "rsa-1");
    const token = await idp.sign(claims(), { key: stranger });
    expect((await refusal(hook(call(bearer(token))))).message).toMatch(/invalid signature/);
  });

  test("key rotation: an unknown kid refetches the set (once per cooldown), then verifies", async () => {
    const hook = bearerJwt(base({ jwksCooldown: 0 }));
    await hook(call(bearer(await idp.sign(claims()))));
    const next = await signingKey("RS256", "rsa-2");
    idp.keys = [next, rsa];
    const hits = idp.hits;
    expect(await hook(call(bearer(await idp.sign(claims({ sub: "rotated" }), { key: next }))))).toEqual({
      id: "rotated",
    });
    expect(idp.hits).toBe(hits + 1);

    const cooled = bearerJwt(base({ jwksCooldown: 60_000 }));
    await cooled(call(bearer(await idp.sign(claims()))));
    const unknown = await idp.sign(claims(), {
      key: await signingKey("RS256", "nobody"),
      header: { kid: "nobody" },
    });
    const before = idp.hits;
    expect((await refusal(cooled(call(bearer(unknown))))).message).toMatch(
      /key \(`kid`\) not found in the key set/,
    );
    expect((await refusal(cooled(call(bearer(unknown))))).status).toBe(401);
    // Inside the cooldown an unknown kid does not hammer the provider.
    expect(idp.hits).toBe(before);
  });

  test("authorizedParties checks azp when the token has one", async () => {
    const hook = bearerJwt(base({ authorizedParties: ["https://app.example.com"] }));
    expect(await hook(call(bearer(await idp.sign(claims({ azp: "https://app.example.com" })))))).toEqual({
      id: "user-1",
    });
    const other = await idp.sign(claims({ azp: "https://evil.example.com" }));
    expect((await refusal(hook(call(bearer(other))))).message).toMatch(/another party/);
  });

  test("requiredClaims and typ are enforced", async () => {
    const hook = bearerJwt(base({ requiredClaims: ["email"], typ: "at+jwt" }));
    const noTyp = await idp.sign(claims({ email: "a@b.c" }));
    expect((await refusal(hook(call(bearer(noTyp))))).message).toMatch(/`typ`/);
    const noEmail = await idp.sign(claims(), { header: { typ: "at+jwt" } });
    expect((await refusal(hook(call(bearer(noEmail))))).message).toMatch(/no `email` claim/);
    const ok = await idp.sign(claims({ email: "a@b.c" }), { header: { typ: "at+jwt" } });
    expect(await hook(call(bearer(ok)))).toEqual({ id: "user-1" });
  });

  test("malformed bearer values are refused before any key lookup", async () => {
    const hook = bearerJwt(base());
    const before = idp.hits;
    for (const value of [
      "Bearer abc",
      "Bearer a.b",
      `Bearer ${"a".repeat(20_000)}.b.c`,
      "Bearer a.b.c.d.e",
    ]) {
      const error = await refusal(hook(call({ authorization: value })));
      expect(error.message).toMatch(/not a compact JWT/);
    }
    // Another scheme is not ours: it counts as no token.
    expect((await refusal(hook(call({ authorization: "Key abc:def" })))).message).toMatch(/no token/);
    expect(idp.hits).toBe(before);
  });

  test("a cookie holding the JWT, with the Authorization header winning when both are sent", async () => {
    const hook = bearerJwt(base({ cookie: "__session" }));
    const token = await idp.sign(claims({ sub: "from-cookie" }));
    expect(await hook(call({ cookie: `theme=dark; __session=${token}; other=1` }))).toEqual({
      id: "from-cookie",
    });
    const expired = await idp.sign(claims({ exp: now() - 600 }));
    await refusal(hook(call({ cookie: `__session=${token}`, ...bearer(expired) })));
    const missing = await refusal(hook(call({ cookie: "theme=dark" })));
    expect(missing.message).toMatch(/`__session` cookie/);
  });

  test("verify() checks one token as the hook does", async () => {
    const hook = bearerJwt(base());
    expect(await hook.verify(await idp.sign(claims({ sub: "v" })))).toMatchObject({ sub: "v", iss: ISSUER });
    await refusal(hook.verify("nope"));
  });

  test("a local key set (jwks) verifies without any fetch", async () => {
    const hook = bearerJwt({ jwks: { keys: [rsa.jwk] }, issuer: ISSUER, audience: AUDIENCE });
    const before = idp.hits;
    expect(await hook(call(bearer(await idp.sign(claims()))))).toEqual({ id: "user-1" });
    expect(idp.hits).toBe(before);
  });

  test("a shared secret verifies HS256 and refuses an RS256 token", async () => {
    const hook = bearerJwt({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE });
    const hs = await new SignJWT(claims())
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(SECRET));
    expect(await hook(call(bearer(hs)))).toEqual({ id: "user-1" });
    expect((await refusal(hook(call(bearer(await idp.sign(claims())))))).message).toMatch(/algorithm/);
  });
});

describe("bearerJwt when the key set is unreachable", () => {
  test("a hanging key set answers 503 auth_unavailable within the timeout, then fails fast during the cooldown", async () => {
    idp.mode = "hang";
    const logger = silent();
    const hook = bearerJwt(base({ jwksTimeout: 300, logger }));
    const token = await idp.sign(claims());
    const before = idp.hits;
    let started = performance.now();
    // Three calls wait on the same fetch, and are refused together; the outage is logged once.
    const [error] = await Promise.all([1, 2, 3].map(() => refusal(hook(call(bearer(token))))));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(idp.hits - before).toBe(1);
    expect(error!.status).toBe(503);
    expect(error!.code).toBe("auth_unavailable");
    expect(error!.headers["retry-after"]).toBe("5");
    expect(error!.message).toMatch(/signing keys could not be fetched/);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0]![1]).toMatchObject({
      url: idp.jwksUrl,
      error: "no answer within 300 ms",
    });

    const hits = idp.hits;
    started = performance.now();
    expect((await refusal(hook(call(bearer(token))))).status).toBe(503);
    expect(performance.now() - started).toBeLessThan(100);
    expect(idp.hits).toBe(hits);
  });

  test.each([
    ["error", /Expected 200 OK/],
    ["not-json", /JSON/],
  ] as const)(
    "a key set answering %s is an outage (503 auth_unavailable), logged with the reason",
    async (mode, reason) => {
      idp.mode = mode;
      const logger = silent();
      const hook = bearerJwt(base({ logger }));
      expect((await refusal(hook(call(bearer(await idp.sign(claims())))))).status).toBe(503);
      expect(String(logger.warn.mock.calls[0]![1]?.error)).toMatch(reason);
    },
  );

  test("the last key set fetched keeps verifying during an outage, for jwksStaleIfError", async () => {
    const logger = silent();
    const hook = bearerJwt(base({ jwksCacheMaxAge: 0, jwksCooldown: 0, logger }));
    const token = await idp.sign(claims());
    expect(await hook(call(bearer(token)))).toEqual({ id: "user-1" });
    idp.mode = "error";
    expect(await hook(call(bearer(token)))).toEqual({ id: "user-1" });
    expect(logger.warn.mock.calls[0]![1]).toMatchObject({ usingCachedKeys: true });

    idp.mode = "ok";
    const strict = bearerJwt(
      base({ jwksCacheMaxAge: 0, jwksCooldown: 0, jwksStaleIfError: 0, logger: silent() }),
    );
    await strict(call(bearer(token)));
    idp.mode = "error";
    expect((await refusal(strict(call(bearer(token))))).status).toBe(503);
  });
});

describe("bearerJwt options are validated once, naming the option", () => {
  const jwksUrl = "https://issuer.test/.well-known/jwks.json";
  test.each<[string, Record<string, unknown>]>([
    ["jwksUrl", { issuer: ISSUER, audience: AUDIENCE }],
    ["jwksUrl` / `secret", { jwksUrl, secret: SECRET, issuer: ISSUER, audience: AUDIENCE }],
    ["jwksUrl", { jwksUrl: "http://issuer.test/jwks.json", issuer: ISSUER, audience: AUDIENCE }],
    ["jwksUrl", { jwksUrl: "not a url", issuer: ISSUER, audience: AUDIENCE }],
    ["issuer", { jwksUrl, audience: AUDIENCE }],
    ["audience", { jwksUrl, issuer: ISSUER }],
    ["issuer", { jwksUrl, issuer: false, audience: false }],
    ["issuer", { jwksUrl, issuer: [], audience: AUDIENCE }],
    ["algorithms", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, algorithms: ["none"] }],
    ["algorithms", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, algorithms: ["HS256"] }],
    ["algorithms", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, algorithms: [] }],
    ["algorithms", { secret: SECRET, issuer: ISSUER, audience: AUDIENCE, algorithms: ["RS256"] }],
    ["secret", { secret: "too-short", issuer: ISSUER, audience: AUDIENCE }],
    ["jwks", { jwks: { keys: [] }, issuer: ISSUER, audience: AUDIENCE }],
    ["jwks.keys[0]", { jwks: { keys: [{ kty: "oct", k: "abc" }] }, issuer: ISSUER, audience: AUDIENCE }],
    [
      "jwks.keys[0]",
      { jwks: { keys: [{ kty: "RSA", n: "x", e: "AQAB", d: "y" }] }, issuer: ISSUER, audience: AUDIENCE },
    ],
    ["clockTolerance", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, clockTolerance: 600 }],
    ["maxTokenAge", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, maxTokenAge: 0 }],
    ["jwksTimeout", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, jwksTimeout: -1 }],
    ["jwksTimeout", { secret: SECRET, issuer: ISSUER, audience: AUDIENCE, jwksTimeout: 1000 }],
    ["cookie", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, cookie: "bad name;" }],
    ["principal", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, principal: "sub" }],
    ["authorizedParties", { jwksUrl, issuer: ISSUER, audience: AUDIENCE, authorizedParties: [""] }],
  ])("`%s`", (name, options) => {
    const create = () => bearerJwt(options as unknown as BearerJwtOptions);
    expect(create).toThrow(TypeError);
    expect(create).toThrow(`\`${name}\``);
  });

  test("opting out of issuer or audience is explicit, and one check must remain", () => {
    expect(() => bearerJwt({ jwksUrl, issuer: ISSUER, audience: false })).not.toThrow();
    expect(() => bearerJwt({ jwksUrl, issuer: false, audience: AUDIENCE })).not.toThrow();
    expect(() =>
      bearerJwt({ jwksUrl, issuer: false, audience: false, authorizedParties: ["https://a.test"] }),
    ).not.toThrow();
  });
});
