import { base64url, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { describe, expect, test } from "vitest";
import { FalgateError } from "../src/errors.js";
import { createMemoryStore } from "../src/store/index.js";
import { createTokenIssuer, TOKEN_TYPE, type TokenIssuer, type TokenOptions } from "../src/tokens/index.js";
import { createTokenIssuerResolver } from "../src/tokens/jwt.js";

const SECRET = "an-hs256-secret-of-at-least-32-bytes!!";
const APP = "fal-ai/fast-lcm-diffusion";
const now = () => Math.floor(Date.now() / 1000);

async function refusal(promise: Promise<unknown>): Promise<FalgateError> {
  const error = await promise.then(
    () => {
      throw new Error("expected the token to be refused");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FalgateError);
  return error as FalgateError;
}

interface Forge {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  omit?: string[];
  key?: Uint8Array | CryptoKey;
  alg?: string;
}

/** Signs arbitrary claims the way an attacker (or a buggy minter) could. */
async function forge({
  header = {},
  claims = {},
  omit = [],
  key = new TextEncoder().encode(SECRET),
  alg = "HS256",
}: Forge) {
  const t = now();
  const payload: Record<string, unknown> = {
    iss: "falgate",
    aud: "falgate:realtime",
    sub: "user-1",
    apps: [APP],
    iat: t,
    exp: t + 60,
    jti: crypto.randomUUID(),
    ...claims,
  };
  for (const name of omit) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg, kid: "default", typ: TOKEN_TYPE, ...header })
    .sign(key);
}

function hs(options: Partial<TokenOptions> = {}): TokenIssuer {
  return createTokenIssuer({ secret: SECRET, singleUse: false, ...options });
}

describe("minting and verifying", () => {
  test("an HS256 token round-trips with the documented claims and header", async () => {
    const issuer = hs();
    const issued = await issuer.issue({ subject: "user-1", apps: [APP] });
    const [header] = issued.token.split(".");
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(header!)))).toEqual({
      alg: "HS256",
      kid: "default",
      typ: TOKEN_TYPE,
    });
    const claims = await issuer.verify(issued.token, { app: `${APP}/realtime` });
    expect(claims).toMatchObject({
      iss: "falgate",
      aud: "falgate:realtime",
      sub: "user-1",
      apps: [APP],
      jti: issued.jti,
    });
    expect(claims.exp - claims.iat).toBe(60);
    expect(issued.expiresAt).toBe(claims.exp);
  });

  test("ttl defaults to 60 s and a longer request is clamped to the configured ttl", async () => {
    const issuer = hs({ ttl: 90 });
    const claims = await issuer.verify(
      (await issuer.issue({ subject: "u", apps: [APP], ttl: 10_000 })).token,
    );
    expect(claims.exp - claims.iat).toBe(90);
  });

  test.each(["EdDSA", "ES256"] as const)(
    "%s key pairs sign and verify (PEM, JWK and derived public key)",
    async (alg) => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const pem = await exportPKCS8(privateKey);
      const fromPem = createTokenIssuer({ keys: [{ kid: "a", alg, privateKey: pem }], singleUse: false });
      const token = (await fromPem.issue({ subject: "u", apps: [APP] })).token;
      const verifyOnly = createTokenIssuer({
        keys: [{ kid: "a", alg, publicKey: await exportJWK(publicKey) }],
      });
      await expect(verifyOnly.verify(token)).resolves.toMatchObject({ sub: "u" });
      const spki = createTokenIssuer({ keys: [{ kid: "a", alg, publicKey: await exportSPKI(publicKey) }] });
      await expect(spki.verify(token)).resolves.toMatchObject({ sub: "u" });
      await expect(verifyOnly.issue({ subject: "u", apps: [APP] })).rejects.toMatchObject({
        code: "internal_error",
      });
    },
  );

  test("rotation: the old kid verifies while it is listed, new tokens use the first key", async () => {
    const oldKey = { kid: "2024", secret: `${SECRET}-old` };
    const newKey = { kid: "2025", secret: `${SECRET}-new` };
    const before = createTokenIssuer({ keys: [oldKey], singleUse: false });
    const oldToken = (await before.issue({ subject: "u", apps: [APP] })).token;

    const during = createTokenIssuer({ keys: [newKey, oldKey], singleUse: false });
    await expect(during.verify(oldToken)).resolves.toMatchObject({ sub: "u" });
    const newToken = (await during.issue({ subject: "u", apps: [APP] })).token;
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(newToken.split(".")[0]!))).kid).toBe("2025");

    const after = createTokenIssuer({ keys: [newKey], singleUse: false });
    await expect(after.verify(newToken)).resolves.toMatchObject({ sub: "u" });
    expect((await refusal(after.verify(oldToken))).code).toBe("invalid_token");
  });

  test("a token for an app opens its paths, never a sibling app sharing a prefix", async () => {
    const issuer = hs();
    const { token } = await issuer.issue({ subject: "u", apps: ["fal-ai/x"] });
    await expect(issuer.verify(token, { app: "fal-ai/x/realtime" })).resolves.toBeTruthy();
    expect((await refusal(issuer.verify(token, { app: "fal-ai/x-turbo/realtime" }))).code).toBe("forbidden");
  });

  test("within the 5 s clock tolerance an expired token still passes", async () => {
    const token = await forge({ claims: { iat: now() - 62, exp: now() - 2 } });
    await expect(hs().verify(token)).resolves.toMatchObject({ sub: "user-1" });
  });
});

describe("the attack table: every token below is refused", async () => {
  const { privateKey: edPrivate, publicKey: edPublic } = await generateKeyPair("EdDSA", {
    extractable: true,
  });
  const { privateKey: esPrivate, publicKey: esPublic } = await generateKeyPair("ES256", {
    extractable: true,
  });
  const edPem = await exportSPKI(edPublic);
  const edJwk = await exportJWK(edPublic);
  const esPem = await exportSPKI(esPublic);
  const ed = () =>
    createTokenIssuer({
      keys: [{ kid: "default", alg: "EdDSA", privateKey: edPrivate, publicKey: edPublic }],
    });
  const es = () =>
    createTokenIssuer({
      keys: [{ kid: "default", alg: "ES256", privateKey: esPrivate, publicKey: esPublic }],
    });
  const unsigned = (header: Record<string, unknown>) => {
    const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
    const t = now();
    return `${enc(header)}.${enc({ iss: "falgate", aud: "falgate:realtime", sub: "u", apps: [APP], iat: t, exp: t + 60, jti: "j" })}.`;
  };

  const cases: Array<[string, () => TokenIssuer, () => Promise<string>, string, string?]> = [
    [
      "alg: none",
      hs,
      async () => unsigned({ alg: "none", typ: TOKEN_TYPE, kid: "default" }),
      "invalid_token",
    ],
    [
      "alg: none (EdDSA setup)",
      ed,
      async () => unsigned({ alg: "none", typ: TOKEN_TYPE, kid: "default" }),
      "invalid_token",
    ],
    [
      "HS256 signed with the EdDSA public key PEM",
      ed,
      () => forge({ key: new TextEncoder().encode(edPem) }),
      "invalid_token",
    ],
    [
      "HS256 signed with the EdDSA public key bytes",
      ed,
      () => forge({ key: base64url.decode(edJwk.x!) }),
      "invalid_token",
    ],
    [
      "HS256 signed with the ES256 public key PEM",
      es,
      () => forge({ key: new TextEncoder().encode(esPem) }),
      "invalid_token",
    ],
    ["HS512 when HS256 is pinned", hs, () => forge({ alg: "HS512" }), "invalid_token"],
    ["HS384 when HS256 is pinned", hs, () => forge({ alg: "HS384" }), "invalid_token"],
    ["ES256 token against an EdDSA key", ed, () => forge({ alg: "ES256", key: esPrivate }), "invalid_token"],
    ["expired", hs, () => forge({ claims: { iat: now() - 120, exp: now() - 30 } }), "invalid_token"],
    ["not yet valid (nbf in the future)", hs, () => forge({ claims: { nbf: now() + 60 } }), "invalid_token"],
    [
      "issued in the future",
      hs,
      () => forge({ claims: { iat: now() + 60, exp: now() + 120 } }),
      "invalid_token",
    ],
    ["missing exp", hs, () => forge({ omit: ["exp"] }), "invalid_token"],
    ["missing iat", hs, () => forge({ omit: ["iat"] }), "invalid_token"],
    ["missing jti", hs, () => forge({ omit: ["jti"] }), "invalid_token"],
    ["missing sub", hs, () => forge({ omit: ["sub"] }), "invalid_token"],
    ["wrong aud", hs, () => forge({ claims: { aud: "someone-else" } }), "invalid_token"],
    ["wrong iss", hs, () => forge({ claims: { iss: "evil" } }), "invalid_token"],
    ["wrong typ", hs, () => forge({ header: { typ: "JWT" } }), "invalid_token"],
    ["no typ", hs, () => forge({ header: { typ: undefined } }), "invalid_token"],
    ["lifetime above the 5 min cap", hs, () => forge({ claims: { exp: now() + 3600 } }), "invalid_token"],
    ["apps is not a list", hs, () => forge({ claims: { apps: APP } }), "invalid_token"],
    ["apps with a traversal", hs, () => forge({ claims: { apps: ["fal-ai/../evil"] } }), "invalid_token"],
    ["token for another app", hs, () => forge({ claims: { apps: ["fal-ai/other"] } }), "forbidden", APP],
    [
      "token for another path",
      hs,
      () => forge({ claims: { apps: [`${APP}/realtime`] } }),
      "forbidden",
      `${APP}/other`,
    ],
    ["unknown kid", hs, () => forge({ header: { kid: "nope" } }), "invalid_token"],
    ["no kid", hs, () => forge({ header: { kid: undefined } }), "invalid_token"],
    [
      "another key's kid",
      () =>
        createTokenIssuer({
          keys: [
            { kid: "a", secret: SECRET },
            { kid: "b", secret: `${SECRET}-b` },
          ],
        }),
      () => forge({ header: { kid: "b" } }),
      "invalid_token",
    ],
    [
      "signed with another secret",
      hs,
      () => forge({ key: new TextEncoder().encode(`${SECRET}-not-ours`) }),
      "invalid_token",
    ],
    ["not a JWT", hs, async () => "not.a.jwt", "invalid_token"],
    ["empty", hs, async () => "", "invalid_token"],
  ];

  test.each(cases)("%s", async (_name, issuer, token, code, app) => {
    const error = await refusal(issuer().verify(await token(), app ? { app } : {}));
    expect(error.code).toBe(code);
    expect(error.status).toBe(code === "forbidden" ? 403 : 401);
  });

  test("tampered payload (apps widened, signature kept)", async () => {
    const issuer = hs();
    const { token } = await issuer.issue({ subject: "u", apps: [APP] });
    const [h, p, s] = token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    claims.apps = ["fal-ai/flux"];
    claims.sub = "admin";
    const tampered = `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
    expect((await refusal(issuer.verify(tampered))).code).toBe("invalid_token");
    await expect(issuer.verify(token)).resolves.toBeTruthy();
  });

  test("older than maxTokenAge", async () => {
    const token = await forge({ claims: { iat: now() - 60, exp: now() + 60 } });
    await expect(hs().verify(token)).resolves.toBeTruthy();
    expect((await refusal(hs({ maxTokenAge: 30 }).verify(token))).code).toBe("invalid_token");
  });

  test("reuse of a single-use token", async () => {
    const issuer = createTokenIssuer({ secret: SECRET });
    const { token } = await issuer.issue({ subject: "u", apps: [APP] });
    await expect(issuer.verify(token, { app: APP })).resolves.toBeTruthy();
    const error = await refusal(issuer.verify(token, { app: APP }));
    expect(error.code).toBe("invalid_token");
    expect(error.message).toMatch(/already used/);
  });

  test("a token refused for its app is not burnt", async () => {
    const issuer = createTokenIssuer({ secret: SECRET });
    const { token } = await issuer.issue({ subject: "u", apps: [APP] });
    expect((await refusal(issuer.verify(token, { app: "fal-ai/other" }))).code).toBe("forbidden");
    await expect(issuer.verify(token, { app: APP })).resolves.toBeTruthy();
  });
});

describe("options are validated at creation", () => {
  test.each<[string, TokenOptions, RegExp]>([
    ["short secret", { secret: "too-short" }, /`tokens\.secret` must be at least 32 bytes/],
    ["short key secret", { keys: [{ kid: "k", secret: "x".repeat(31) }] }, /`tokens\.keys\[0\]\.secret`/],
    ["no key at all", {}, /`tokens\.secret` is required/],
    ["ttl above 300 s", { secret: SECRET, ttl: 301 }, /`tokens\.ttl`/],
    ["clockTolerance above 5 s", { secret: SECRET, clockTolerance: 6 }, /`tokens\.clockTolerance`/],
    ["maxTokenAge above 300 s", { secret: SECRET, maxTokenAge: 600 }, /`tokens\.maxTokenAge`/],
    [
      "duplicate kid",
      {
        keys: [
          { kid: "k", secret: SECRET },
          { kid: "k", secret: SECRET },
        ],
      },
      /same `kid`/,
    ],
    [
      "unknown algorithm",
      { keys: [{ kid: "k", alg: "RS256" as "ES256", publicKey: "x" }] },
      /`tokens\.keys\[0\]\.alg`/,
    ],
    ["key pair without keys", { keys: [{ kid: "k", alg: "EdDSA" }] }, /needs a `privateKey`/],
    ["not a PEM", { keys: [{ kid: "k", alg: "EdDSA", publicKey: "abc" }] }, /`tokens\.keys\[0\]\.publicKey`/],
  ])("%s throws a TypeError naming the option", (_name, options, message) => {
    expect(() => createTokenIssuer(options)).toThrow(TypeError);
    expect(() => createTokenIssuer(options)).toThrow(message);
  });

  test("the env secret is read when first needed, never before, and checked", async () => {
    const resolve = createTokenIssuerResolver({ singleUse: false }, createMemoryStore());
    expect(resolve({})).toBeNull();
    expect(() => resolve({ FALGATE_TOKEN_SECRET: "short" })).toThrow(/FALGATE_TOKEN_SECRET/);
    const a = resolve({ FALGATE_TOKEN_SECRET: SECRET });
    expect(a).not.toBeNull();
    expect(resolve({ FALGATE_TOKEN_SECRET: SECRET })).toBe(a);
    const { token } = await a!.issue({ subject: "u", apps: [APP] });
    const other = resolve({ FALGATE_TOKEN_SECRET: `${SECRET}-rotated` });
    expect((await refusal(other!.verify(token))).code).toBe("invalid_token");
  });

  test("options win over env", async () => {
    const issuer = createTokenIssuer(
      { secret: SECRET, singleUse: false },
      { env: { FALGATE_TOKEN_SECRET: `${SECRET}-env` } },
    );
    const { token } = await issuer.issue({ subject: "u", apps: [APP] });
    await expect(hs().verify(token)).resolves.toBeTruthy();
  });

  test("issue refuses malformed apps and subjects", async () => {
    const issuer = hs();
    await expect(issuer.issue({ subject: "", apps: [APP] })).rejects.toThrow(TypeError);
    await expect(issuer.issue({ subject: "u", apps: [] })).rejects.toThrow(TypeError);
    await expect(issuer.issue({ subject: "u", apps: ["fal-ai/../x"] })).rejects.toThrow(TypeError);
    await expect(issuer.issue({ subject: "u", apps: ["single"] })).rejects.toThrow(TypeError);
  });
});

describe("single use, remembered in the store", () => {
  test("a token verifies once; the id is remembered until the token expires, and the store fails closed when full", async () => {
    let clock = Date.now();
    const store = createMemoryStore({ maxKeys: 2, now: () => clock });
    const issuer = createTokenIssuer({ secret: SECRET, ttl: 10 }, { store });
    const a = await issuer.issue({ subject: "u", apps: [APP] });
    await issuer.verify(a.token);
    expect((await refusal(issuer.verify(a.token))).code).toBe("invalid_token");
    await issuer.verify((await issuer.issue({ subject: "u", apps: [APP] })).token);
    // Two unexpired ids held: a third is refused rather than an old one forgotten early.
    const c = await issuer.issue({ subject: "u", apps: [APP] });
    expect((await refusal(issuer.verify(c.token))).code).toBe("rate_limited");
    clock += 16_000;
    expect(await store.addOnce(`jti:${a.jti}`, 1_000)).toBe(true);
  });

  test("a custom store is used and its failures are not swallowed as success", async () => {
    const seen: string[] = [];
    const issuer = createTokenIssuer(
      { secret: SECRET },
      {
        store: {
          async addOnce(key) {
            seen.push(key);
            if (seen.length > 1) throw new Error("redis down");
            return true;
          },
        },
      },
    );
    const first = await issuer.issue({ subject: "u", apps: [APP] });
    await issuer.verify(first.token);
    expect(seen).toEqual([`jti:${first.jti}`]);
    const second = await issuer.issue({ subject: "u", apps: [APP] });
    expect((await refusal(issuer.verify(second.token))).code).toBe("internal_error");
  });
});
