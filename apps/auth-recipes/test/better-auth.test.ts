// better-auth for real (email and password on its memory adapter) in a Hono app on @hono/node-server, on loopback.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { fetchListener, listen, silentLogger } from "@falgate/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createBetterAuthApp } from "../src/better-auth.js";
import { cookiesOf, falAs, generate, refusedWith } from "./helpers.js";

let mock: MockFal;
let server: Awaited<ReturnType<typeof listen>>;
let proxy: string;
const seen: Array<{ id: string; data?: unknown }> = [];

beforeAll(async () => {
  mock = await startMockFal({ runMs: 20 });
  // better-auth needs its base URL, known once the server listens: the app is set right after.
  let handler: ((request: Request) => Promise<Response>) | undefined;
  server = await listen(createServer(fetchListener((request) => handler!(request))));
  const { app } = createBetterAuthApp({
    secret: randomBytes(32).toString("base64"),
    baseURL: server.origin,
    falgate: {
      credentials: mock.key,
      upstream: mock.url,
      logger: silentLogger(),
      onRequest: ({ principal }) => {
        seen.push({ id: principal.id, data: principal.data });
      },
    },
  });
  handler = (request) => Promise.resolve(app.fetch(request));
  proxy = `${server.origin}/api/fal/proxy`;
});
afterAll(async () => {
  await server?.close();
  await mock?.close();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.origin}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.origin, ...headers },
    body: JSON.stringify(body),
  });
}

test("a better-auth session cookie lets the official client through as that user; none gets 401", async () => {
  const signUp = await post("/api/auth/sign-up/email", {
    email: "linus@example.com",
    password: "a-long-enough-password",
    name: "Linus",
  });
  expect(signUp.status).toBe(200);
  const { user } = (await signUp.json()) as { user: { id: string } };

  const wrong = await post("/api/auth/sign-in/email", {
    email: "linus@example.com",
    password: "nope-nope-nope",
  });
  expect(wrong.status).toBe(401);

  const signIn = await post("/api/auth/sign-in/email", {
    email: "linus@example.com",
    password: "a-long-enough-password",
  });
  expect(signIn.status).toBe(200);
  const cookie = cookiesOf(signIn);
  expect(cookie).toMatch(/better-auth\.session_token=/);

  expect(await generate(falAs(proxy, { cookie }), "as linus")).toBe("as linus");
  expect(seen).toEqual([{ id: user.id, data: { email: "linus@example.com" } }]);

  await refusedWith(generate(falAs(proxy)), 401, "unauthenticated");
  // better-auth signs its cookie: a token of the right shape but another value is no session.
  const forged = cookie.replace(/session_token=[^.;]+/, "session_token=forgedforgedforgedforgedforged00");
  await refusedWith(generate(falAs(proxy, { cookie: forged })), 401, "unauthenticated");

  const out = await post("/api/auth/sign-out", {}, { cookie });
  expect(out.status).toBe(200);
  await refusedWith(generate(falAs(proxy, { cookie })), 401, "unauthenticated");
  expect(seen).toHaveLength(1);
});
