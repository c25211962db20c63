// express-session (memory store) + passport-local, for real, on loopback; the official client calls through falgate.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { listen, silentLogger } from "@falgate/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPassportApp } from "../src/passport.js";
import { cookiesOf, falAs, generate, refusedWith } from "./helpers.js";

let mock: MockFal;
let server: Awaited<ReturnType<typeof listen>>;
let proxy: string;
const principals: string[] = [];

beforeAll(async () => {
  mock = await startMockFal({ runMs: 20 });
  const app = createPassportApp({
    users: [{ id: "user-ada", username: "ada", password: "correct horse battery staple" }],
    sessionSecret: randomBytes(32).toString("hex"),
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

async function login(password: string): Promise<Response> {
  return fetch(`${server.origin}/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: "ada", password }),
  });
}

test("signed in through passport, the official client calls fal as that user; signed out it gets 401", async () => {
  const wrong = await login("wrong");
  expect(wrong.status).toBe(401);
  expect(cookiesOf(wrong)).toBe("");

  const signedIn = await login("correct horse battery staple");
  expect(signedIn.status).toBe(200);
  const cookie = cookiesOf(signedIn);
  expect(cookie).toMatch(/^connect\.sid=/);

  expect(await generate(falAs(proxy, { cookie }), "as ada")).toBe("as ada");
  expect(principals).toEqual(["user-ada"]);
  const forwarded = await mock.waitForRequest((r) => r.method === "POST");
  expect(forwarded.headers.authorization).toBe(`Key ${mock.key}`);
  // The session cookie is the app's business, never fal's.
  expect(forwarded.headers.cookie).toBeUndefined();

  await refusedWith(generate(falAs(proxy)), 401, "unauthenticated");

  // The session cookie rides along on cross-site requests too: falgate's origin check refuses them before authorize.
  await refusedWith(
    generate(falAs(proxy, { cookie, origin: "https://evil.test", "sec-fetch-site": "cross-site" })),
    403,
    "origin_not_allowed",
  );

  const out = await fetch(`${server.origin}/logout`, { method: "POST", headers: { cookie } });
  expect(out.status).toBe(200);
  await refusedWith(generate(falAs(proxy, { cookie })), 401, "unauthenticated");
  expect(principals).toEqual(["user-ada"]);
});
