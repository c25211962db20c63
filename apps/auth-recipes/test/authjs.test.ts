// Auth.js for real (@auth/express 0.12, @auth/core 0.41) with a Credentials provider, on loopback.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { listen, silentLogger } from "@falgate/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createAuthJsApp } from "../src/authjs.js";
import { cookiesOf, falAs, generate, refusedWith } from "./helpers.js";

let mock: MockFal;
let server: Awaited<ReturnType<typeof listen>>;
let proxy: string;
const principals: string[] = [];

beforeAll(async () => {
  mock = await startMockFal({ runMs: 20 });
  const app = createAuthJsApp({
    users: [{ id: "user-grace", username: "grace", password: "cobol-1959" }],
    secret: randomBytes(32).toString("base64"),
    authLogger: { error: () => undefined, warn: () => undefined, debug: () => undefined },
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
  await mock?.close();
});

/** Signs in the way Auth.js's `signIn("credentials")` does: CSRF token first, then the form post. */
async function signIn(password: string): Promise<string> {
  const csrf = await fetch(`${server.origin}/auth/csrf`);
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const callback = await fetch(`${server.origin}/auth/callback/credentials`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookiesOf(csrf) },
    body: new URLSearchParams({ csrfToken, username: "grace", password, callbackUrl: server.origin }),
  });
  expect(callback.status).toBe(302);
  return cookiesOf(callback);
}

test("an Auth.js session cookie lets the official client through as that user; none gets 401", async () => {
  const failed = await signIn("wrong");
  expect(failed).not.toMatch(/authjs\.session-token=/);

  const cookie = (await signIn("cobol-1959"))
    .split("; ")
    .filter((c) => c.startsWith("authjs.session-token="))
    .join("; ");
  expect(cookie).toMatch(/^authjs\.session-token=/);
  const session = await fetch(`${server.origin}/auth/session`, { headers: { cookie } });
  expect(await session.json()).toMatchObject({ user: { id: "user-grace", name: "grace" } });

  expect(await generate(falAs(proxy, { cookie }), "as grace")).toBe("as grace");
  expect(principals).toEqual(["user-grace"]);

  await refusedWith(generate(falAs(proxy)), 401, "unauthenticated");
  // A forged or foreign session cookie does not decrypt: Auth.js reports no session.
  const forged = cookie.replace(/=.{12}/, "=AAAAAAAAAAAA");
  await refusedWith(generate(falAs(proxy, { cookie: forged })), 401, "unauthenticated");
  expect(principals).toEqual(["user-grace"]);
});
