// Recipe (docs/auth.md#authjs--nextauth): falgate on an Express app signed in with Auth.js (@auth/express, a
// Credentials provider, JWT sessions in a cookie); `authorize` asks Auth.js's own `getSession` with Express's `req`.
import { ExpressAuth, type ExpressAuthConfig, getSession } from "@auth/express";
import Credentials from "@auth/express/providers/credentials";
import type { FalgateOptions } from "@falgate/core";
import { createFalgate, createFalgateHandler, type ExpressContext } from "@falgate/express";
import express from "express";
import type { UserRecord } from "./passport.js";

/** The Express app: Auth.js under `/auth` (csrf, callback/credentials, session, signout) and the fal proxy. */
export function createAuthJsApp(config: {
  users: readonly UserRecord[];
  /** `AUTH_SECRET`: at least 32 random bytes. */
  secret: string;
  falgate?: Omit<FalgateOptions<ExpressContext>, "authorize">;
  /** Where Auth.js logs (failed sign-ins, undecryptable cookies). @default Auth.js's console logger */
  authLogger?: ExpressAuthConfig["logger"];
}): express.Express {
  const authConfig: ExpressAuthConfig = {
    secret: config.secret,
    ...(config.authLogger ? { logger: config.authLogger } : {}),
    trustHost: true,
    providers: [
      Credentials({
        credentials: { username: {}, password: { type: "password" } },
        authorize: async (credentials) => {
          const user = config.users.find(
            (u) => u.username === credentials.username && u.password === credentials.password,
          );
          return user ? { id: user.id, name: user.username } : null;
        },
      }),
    ],
    callbacks: {
      // Auth.js keeps the user id in the token's `sub`; put it on the session so `getSession` returns it.
      session: ({ session, token }) => ({ ...session, user: { ...session.user, id: token.sub ?? "" } }),
    },
  };

  const falgate = createFalgate({
    ...config.falgate,
    authorize: async (_request, { req }) => {
      const session = await getSession(req, authConfig);
      return session?.user?.id ? { id: session.user.id } : null;
    },
  });

  const app = express();
  app.use("/auth", ExpressAuth(authConfig));
  app.use("/api/fal/proxy", createFalgateHandler(falgate));
  return app;
}
