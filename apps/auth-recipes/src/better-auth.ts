// Recipe (docs/auth.md#better-auth): falgate in a Hono app signed in with better-auth (email and password, the
// in-memory database adapter); `authorize` asks better-auth for the session of the request's headers.
import type { FalgateOptions } from "@falgate/core";
import { createFalgate, createFalgateHandler, type HonoContext } from "@falgate/hono";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { Hono } from "hono";

/** The Hono app: better-auth under `/api/auth` and the fal proxy; `auth` is returned for server-side calls. */
export function createBetterAuthApp(config: {
  /** `BETTER_AUTH_SECRET`: at least 32 random bytes. */
  secret: string;
  /** Where the app is served (better-auth checks the `Origin` of sign-in requests against it). */
  baseURL: string;
  falgate?: Omit<FalgateOptions<HonoContext>, "authorize">;
}) {
  const auth = betterAuth({
    secret: config.secret,
    baseURL: config.baseURL,
    database: memoryAdapter({ user: [], session: [], account: [], verification: [] }),
    emailAndPassword: { enabled: true },
  });

  const falgate = createFalgate({
    ...config.falgate,
    authorize: async (request) => {
      const session = await auth.api.getSession({ headers: request.headers });
      return session ? { id: session.user.id, data: { email: session.user.email } } : null;
    },
  });

  const app = new Hono();
  app.on(["GET", "POST"], "/api/auth/*", (c) => auth.handler(c.req.raw));
  app.all("/api/fal/proxy/*", createFalgateHandler(falgate));
  return { app, auth };
}
