// The provider presets against a local key set, with tokens in each provider's own shape (header, claims, lifetimes).
// No provider is reachable from the tests: the preset's `fetch` routes its real key set URL to the local server, and
// the test asserts which URL the preset asked for.
import { base64url, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  auth0Jwt,
  bearerJwt,
  clerkJwt,
  FalgateError,
  type FetchLike,
  FIREBASE_JWKS_URL,
  firebaseJwt,
  type Logger,
  supabaseJwt,
  supabaseSessionCookie,
} from "../src/index.js";
import {
  type IdentityProvider,
  now,
  type SigningKey,
  signingKey,
  startIdentityProvider,
} from "./identity-provider.js";

const quiet: Logger = { warn: () => undefined, error: () => undefined };
let idp: IdentityProvider;
let rsa: SigningKey;
let ec: SigningKey;

beforeAll(async () => {
  // kids as the providers write them: Auth0's base64 thumbprint, Firebase's hex, Clerk's `ins_`, Supabase's uuid.
  rsa = await signingKey("RS256", "NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg");
  ec = await signingKey("ES256", "3f1c6b8e-2d4a-4b8f-9c1e-7a5d2e9f0b13");
  idp = await startIdentityProvider([rsa, ec]);
});
afterAll(() => idp?.close());

/** A transport answering `url` with the local key set and recording what was asked. */
function provider(url: string): { fetch: FetchLike; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    fetch: (input, init) => {
      const requested = input instanceof Request ? input.url : String(input);
      asked.push(requested);
      return requested === url
        ? fetch(idp.jwksUrl, init)
        : Promise.resolve(new Response(null, { status: 404 }));
    },
  };
}

async function sign(key: SigningKey, claims: JWTPayload, kid = key.kid): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid, typ: "JWT" }).sign(key.privateKey);
}

function call(headers: Record<string, string>): Request {
  return new Request("http://app.test/api/fal/proxy", { method: "POST", headers });
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

describe("auth0Jwt", () => {
  const domain = "falgate-test.us.auth0.com";
  const api = "https://api.falgate.test";
  const accessToken = (extra: JWTPayload = {}) => {
    const iat = now();
    return sign(rsa, {
      iss: `https://${domain}/`,
      sub: "auth0|65f0c1e2a1b2c3d4e5f60718",
      aud: [api, `https://${domain}/userinfo`],
      iat,
      exp: iat + 86_400,
      scope: "openid profile email",
      azp: "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345",
      permissions: ["generate:images"],
      ...extra,
    });
  };

  test("verifies an Auth0 access token for your API, with the key set of the tenant", async () => {
    const jwks = provider(`https://${domain}/.well-known/jwks.json`);
    const hook = bearerJwt(
      auth0Jwt({
        domain: `https://${domain}/`,
        audience: api,
        fetch: jwks.fetch,
        logger: quiet,
        principal: (claims) =>
          claims.permissions?.includes("generate:images") && claims.sub ? { id: claims.sub } : null,
      }),
    );
    expect(await hook(call({ authorization: `Bearer ${await accessToken()}` }))).toEqual({
      id: "auth0|65f0c1e2a1b2c3d4e5f60718",
    });
    expect(jwks.asked).toEqual([`https://${domain}/.well-known/jwks.json`]);
    expect(
      await hook(call({ authorization: `Bearer ${await accessToken({ permissions: [] })}` })),
    ).toBeNull();
    const otherApi = await accessToken({ aud: "https://another-api.test" });
    expect((await refusal(hook(call({ authorization: `Bearer ${otherApi}` })))).message).toMatch(/audience/);
    // Auth0's issuer ends with a slash; without it, it is another issuer.
    const noSlash = await accessToken({ iss: `https://${domain}` });
    expect((await refusal(hook(call({ authorization: `Bearer ${noSlash}` })))).message).toMatch(/issuer/);
  });

  test("the domain is validated", () => {
    expect(() => auth0Jwt({ domain: "http://tenant.auth0.com", audience: api })).toThrow("`domain`");
    expect(() => auth0Jwt({ domain: "tenant.auth0.com/path", audience: api })).toThrow("`domain`");
    expect(() => bearerJwt(auth0Jwt({ domain, audience: [] }))).toThrow("`audience`");
  });
});

describe("clerkJwt", () => {
  const host = "clerk.falgate.test";
  const app = "https://app.falgate.test";
  const sessionToken = (extra: JWTPayload = {}) => {
    const iat = now();
    // Clerk session tokens live 60 s and carry no `aud`; `azp` is the origin the browser asked from.
    return sign(rsa, {
      azp: app,
      exp: iat + 60,
      fva: [0, -1],
      iat,
      iss: `https://${host}`,
      nbf: iat - 10,
      sid: "sess_2abcDEFghiJKLmnoPQRstuVWxyz",
      sub: "user_2abcDEFghiJKLmnoPQRstuVWxyz",
      v: 2,
      ...extra,
    });
  };

  test("verifies a Clerk session token from the header or the __session cookie, checking azp", async () => {
    const jwks = provider(`https://${host}/.well-known/jwks.json`);
    const publishableKey = `pk_live_${btoa(`${host}$`)}`;
    const hook = bearerJwt(
      clerkJwt({ publishableKey, authorizedParties: [app], fetch: jwks.fetch, logger: quiet }),
    );
    const token = await sessionToken();
    expect(await hook(call({ authorization: `Bearer ${token}` }))).toEqual({
      id: "user_2abcDEFghiJKLmnoPQRstuVWxyz",
    });
    expect(await hook(call({ cookie: `__client_uat=1700000000; __session=${token}` }))).toEqual({
      id: "user_2abcDEFghiJKLmnoPQRstuVWxyz",
    });
    expect(jwks.asked).toEqual([`https://${host}/.well-known/jwks.json`]);
    const elsewhere = await sessionToken({ azp: "https://evil.test" });
    expect((await refusal(hook(call({ authorization: `Bearer ${elsewhere}` })))).message).toMatch(
      /another party/,
    );
  });

  test("frontendApi and publishableKey name the same instance; authorizedParties is required", () => {
    const a = clerkJwt({ frontendApi: `https://${host}`, authorizedParties: [app] });
    const b = clerkJwt({ publishableKey: `pk_test_${btoa(`${host}$`)}`, authorizedParties: [app] });
    expect(a.jwksUrl).toBe(b.jwksUrl);
    expect(a.issuer).toBe(`https://${host}`);
    expect(a.audience).toBe(false);
    expect(() => clerkJwt({ frontendApi: host, authorizedParties: [] })).toThrow("`authorizedParties`");
    expect(() => clerkJwt({ publishableKey: "sk_live_abc", authorizedParties: [app] })).toThrow(
      "`publishableKey`",
    );
    expect(() => clerkJwt({ authorizedParties: [app] })).toThrow("`frontendApi`");
  });
});

describe("firebaseJwt", () => {
  const projectId = "falgate-test";
  const idToken = (extra: JWTPayload = {}, project = projectId) => {
    const iat = now();
    return sign(
      rsa,
      {
        name: "Ada",
        iss: `https://securetoken.google.com/${project}`,
        aud: project,
        auth_time: iat - 30,
        user_id: "kP3xQ9vT2mYwZ8rL5nB1cD4eF6g2",
        sub: "kP3xQ9vT2mYwZ8rL5nB1cD4eF6g2",
        iat,
        exp: iat + 3600,
        email: "ada@example.com",
        email_verified: true,
        firebase: { identities: { email: ["ada@example.com"] }, sign_in_provider: "password" },
        ...extra,
      },
      "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
    );
  };

  test("verifies a Firebase ID token; another project's token from the same Google keys is refused", async () => {
    // The kid in the set must match the kid Firebase tokens carry.
    const firebaseKey = { ...rsa, jwk: { ...rsa.jwk, kid: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678" } };
    idp.keys = [firebaseKey];
    try {
      const jwks = provider(FIREBASE_JWKS_URL);
      const hook = bearerJwt(firebaseJwt({ projectId, fetch: jwks.fetch, logger: quiet }));
      expect(await hook(call({ authorization: `Bearer ${await idToken()}` }))).toEqual({
        id: "kP3xQ9vT2mYwZ8rL5nB1cD4eF6g2",
      });
      expect(jwks.asked).toEqual([FIREBASE_JWKS_URL]);
      // Google signs every project's tokens with these keys: only issuer and audience keep them apart.
      const other = await idToken({}, "someone-elses-project");
      expect((await refusal(hook(call({ authorization: `Bearer ${other}` })))).message).toMatch(/another/);
      const anonymous = await idToken({ firebase: { identities: {}, sign_in_provider: "anonymous" } });
      const forbidden = await refusal(hook(call({ authorization: `Bearer ${anonymous}` })));
      expect(forbidden.status).toBe(403);
      const noAuthTime = await idToken({ auth_time: undefined });
      expect((await refusal(hook(call({ authorization: `Bearer ${noAuthTime}` })))).message).toMatch(
        /auth_time/,
      );

      const open = bearerJwt(
        firebaseJwt({ projectId, allowAnonymous: true, fetch: jwks.fetch, logger: quiet }),
      );
      expect(await open(call({ authorization: `Bearer ${anonymous}` }))).toEqual({
        id: "kP3xQ9vT2mYwZ8rL5nB1cD4eF6g2",
      });
    } finally {
      idp.keys = [rsa, ec];
    }
  });
});

describe("supabaseJwt", () => {
  const url = "https://abcdefghijklmnopqrst.supabase.co";
  const jwtSecret = "super-secret-jwt-token-with-at-least-32-characters-long";
  const claims = (extra: JWTPayload = {}): JWTPayload => {
    const iat = now();
    return {
      iss: `${url}/auth/v1`,
      sub: "8a9b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
      aud: "authenticated",
      exp: iat + 3600,
      iat,
      email: "ada@example.com",
      phone: "",
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: { email_verified: true },
      role: "authenticated",
      aal: "aal1",
      amr: [{ method: "password", timestamp: iat }],
      session_id: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
      is_anonymous: false,
      ...extra,
    };
  };

  test("asymmetric signing keys (ES256) from the project's JWKS", async () => {
    const jwks = provider(`${url}/auth/v1/.well-known/jwks.json`);
    const hook = bearerJwt(
      supabaseJwt({
        url,
        fetch: jwks.fetch,
        logger: quiet,
        principal: (c) => ({ id: c.sub ?? "", data: { role: c.role, email: c.email } }),
      }),
    );
    const token = await sign(ec, claims());
    expect(await hook(call({ authorization: `Bearer ${token}` }))).toEqual({
      id: "8a9b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
      data: { role: "authenticated", email: "ada@example.com" },
    });
    expect(jwks.asked).toEqual([`${url}/auth/v1/.well-known/jwks.json`]);
    const anonymous = await sign(ec, claims({ is_anonymous: true }));
    expect((await refusal(hook(call({ authorization: `Bearer ${anonymous}` })))).status).toBe(403);
  });

  test("the legacy HS256 JWT secret; the anon key (role anon, no user) is refused", async () => {
    const hook = bearerJwt(supabaseJwt({ url, secret: jwtSecret }));
    const key = new TextEncoder().encode(jwtSecret);
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
    expect(await hook(call({ authorization: `Bearer ${token}` }))).toEqual({
      id: "8a9b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
    });
    const iat = now();
    const anonKey = await new SignJWT({
      iss: "supabase",
      ref: "abcdefghijklmnopqrst",
      role: "anon",
      iat,
      exp: iat + 1e8,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(key);
    expect((await refusal(hook(call({ authorization: `Bearer ${anonKey}` })))).status).toBe(401);
  });

  test("the @supabase/ssr session cookie: base64 and split in chunks, or raw JSON", async () => {
    const hook = bearerJwt(supabaseJwt({ url, secret: jwtSecret, cookie: true }));
    const key = new TextEncoder().encode(jwtSecret);
    const accessToken = await new SignJWT(claims({ user_metadata: { bio: "x".repeat(4000) } }))
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(key);
    const session = JSON.stringify({
      access_token: accessToken,
      token_type: "bearer",
      expires_in: 3600,
      expires_at: now() + 3600,
      refresh_token: "v1ref",
      user: { id: "8a9b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d" },
    });
    const encoded = `base64-${base64url.encode(session)}`;
    const name = "sb-abcdefghijklmnopqrst-auth-token";
    const chunks = [encoded.slice(0, 3000), encoded.slice(3000, 6000), encoded.slice(6000)];
    const cookie = chunks.map((c, i) => `${name}.${i}=${c}`).join("; ");
    expect(await hook(call({ cookie }))).toEqual({ id: "8a9b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d" });
    expect(await hook(call({ cookie: `${name}=${encodeURIComponent(session)}` }))).toEqual({
      id: "8a9b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
    });
    expect((await refusal(hook(call({ cookie: `${name}-code-verifier=abc` })))).message).toMatch(/no token/);
    expect(supabaseSessionCookie(name)(new Map([[name, "base64-%%%"]]))).toBeNull();
  });

  test("the url is validated", () => {
    expect(() => supabaseJwt({ url: "http://abc.supabase.co" })).toThrow("`url`");
    expect(() => supabaseJwt({ url: `${url}/auth/v1` })).toThrow("`url`");
    expect(supabaseJwt({ url: "http://127.0.0.1:54321" }).issuer).toBe("http://127.0.0.1:54321/auth/v1");
  });
});
