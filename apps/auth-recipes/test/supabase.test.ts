// The Supabase recipe with the real @supabase/ssr + supabase-js signing in against a local stand-in for Supabase Auth
// (GoTrue's password grant and JWKS, ES256 keys generated here), reached at the project's real https URL through the
// clients' `fetch`. The tokens have Supabase's exact claims; the session cookies are the ones @supabase/ssr writes.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { FetchLike } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { listen, silentLogger } from "@falgate/testkit";
import { createClient } from "@supabase/supabase-js";
import express from "express";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import { createSupabaseApp } from "../src/supabase.js";
import { cookiesOf, falAs, generate, refusedWith } from "./helpers.js";

const PROJECT = "https://abcdefghijklmnopqrst.supabase.co";
const PUBLISHABLE_KEY = "sb_publishable_test_only_not_a_real_key";
const USER = { id: randomUUID(), email: "ada@example.com", password: "correct horse battery staple" };

let mock: MockFal;
let gotrue: Awaited<ReturnType<typeof listen>>;
let server: Awaited<ReturnType<typeof listen>>;
let proxy: string;
let toSupabase: FetchLike;
const principals: string[] = [];

/** A stand-in for Supabase Auth: the password grant and the JWKS, nothing else. */
async function startSupabaseAuth(): Promise<Awaited<ReturnType<typeof listen>>> {
  const kid = randomUUID();
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig", key_ops: ["verify"] };
  const app = express();
  app.get("/auth/v1/.well-known/jwks.json", (_req, res) => {
    res.json({ keys: [jwk] });
  });
  app.post("/auth/v1/token", express.json(), async (req, res) => {
    const { email, password } = req.body as { email?: string; password?: string };
    if (req.query.grant_type !== "password" || email !== USER.email || password !== USER.password) {
      res
        .status(400)
        .json({ code: 400, error_code: "invalid_credentials", msg: "Invalid login credentials" });
      return;
    }
    const iat = Math.floor(Date.now() / 1000);
    const sessionId = randomUUID();
    const user = {
      id: USER.id,
      aud: "authenticated",
      role: "authenticated",
      email: USER.email,
      email_confirmed_at: new Date().toISOString(),
      phone: "",
      app_metadata: { provider: "email", providers: ["email"] },
      // Large enough that @supabase/ssr splits its cookie in chunks.
      user_metadata: { email_verified: true, bio: "x".repeat(3000) },
      identities: [],
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
      is_anonymous: false,
    };
    const accessToken = await new SignJWT({
      iss: `${PROJECT}/auth/v1`,
      sub: USER.id,
      aud: "authenticated",
      exp: iat + 3600,
      iat,
      email: USER.email,
      phone: "",
      app_metadata: user.app_metadata,
      user_metadata: user.user_metadata,
      role: "authenticated",
      aal: "aal1",
      amr: [{ method: "password", timestamp: iat }],
      session_id: sessionId,
      is_anonymous: false,
    })
      .setProtectedHeader({ alg: "ES256", kid, typ: "JWT" })
      .sign(privateKey);
    res.json({
      access_token: accessToken,
      token_type: "bearer",
      expires_in: 3600,
      expires_at: iat + 3600,
      refresh_token: randomUUID(),
      user,
    });
  });
  return listen(createServer(app));
}

beforeAll(async () => {
  // supabase-js builds its realtime client eagerly and wants a WebSocket class; Node 20 has no global one.
  (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
  mock = await startMockFal({ runMs: 20 });
  gotrue = await startSupabaseAuth();
  toSupabase = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    return fetch(url.replace(PROJECT, gotrue.origin), init);
  };
  const app = createSupabaseApp({
    supabaseUrl: PROJECT,
    supabaseKey: PUBLISHABLE_KEY,
    fetch: toSupabase,
    falgate: {
      credentials: mock.key,
      upstream: mock.url,
      logger: silentLogger(),
      onRequest: ({ principal }) => {
        principals.push(principal.id);
      },
    },
  });
  server = await listen(createServer(app));
  proxy = `${server.origin}/api/fal/proxy`;
});
afterAll(async () => {
  await server?.close();
  await gotrue?.close();
  await mock?.close();
});

test("server-side sign-in with @supabase/ssr: its (chunked) session cookie lets the official client through", async () => {
  const wrong = await fetch(`${server.origin}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: USER.email, password: "wrong" }),
  });
  expect(wrong.status).toBe(401);

  const login = await fetch(`${server.origin}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: USER.email, password: USER.password }),
  });
  expect(login.status).toBe(200);
  const cookie = cookiesOf(login);
  expect(cookie).toMatch(/sb-abcdefghijklmnopqrst-auth-token\.0=base64-/);
  expect(cookie).toMatch(/sb-abcdefghijklmnopqrst-auth-token\.1=/);

  expect(await generate(falAs(proxy, { cookie }), "from the cookie")).toBe("from the cookie");
  expect(principals.at(-1)).toBe(USER.id);
  await refusedWith(generate(falAs(proxy)), 401, "unauthenticated");
  // One chunk missing: the cookie no longer holds a session.
  const partial = cookie
    .split("; ")
    .filter((c) => !c.includes("auth-token.1="))
    .join("; ");
  await refusedWith(generate(falAs(proxy, { cookie: partial })), 401, "unauthenticated");
});

test("a browser app with supabase-js passes its access token as a bearer token", async () => {
  const supabase = createClient(PROJECT, PUBLISHABLE_KEY, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { fetch: toSupabase as typeof fetch },
  });
  const { data, error } = await supabase.auth.signInWithPassword({
    email: USER.email,
    password: USER.password,
  });
  expect(error).toBeNull();
  const token = data.session!.access_token;
  expect(await generate(falAs(proxy, { authorization: `Bearer ${token}` }), "from the header")).toBe(
    "from the header",
  );
  expect(principals.at(-1)).toBe(USER.id);
  await refusedWith(generate(falAs(proxy, { authorization: `Bearer ${token}x` })), 401, "unauthenticated");
});
