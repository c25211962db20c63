// Recipe (docs/auth.md#express-session--passport): falgate on the Express app that already signs users in with
// express-session and passport; `authorize` reads `req.user`, which passport filled from the session cookie.

import type { FalgateOptions } from "@falgate/core";
import { createFalgate, createFalgateHandler, type ExpressContext } from "@falgate/express";
import express from "express";
import session from "express-session";
import passport from "passport";
import { Strategy as LocalStrategy } from "passport-local";

declare global {
  namespace Express {
    interface User {
      id: string;
      username: string;
    }
  }
}

/** The app's user store (a database in a real app). */
export interface UserRecord {
  id: string;
  username: string;
  password: string;
}

/** The Express app: `/login` and `/logout` (passport-local), and the fal proxy for signed-in users only. */
export function createPassportApp(config: {
  users: readonly UserRecord[];
  sessionSecret: string;
  falgate?: Omit<FalgateOptions<ExpressContext>, "authorize">;
}): express.Express {
  const auth = new passport.Passport();
  auth.use(
    new LocalStrategy((username, password, done) => {
      const user = config.users.find((u) => u.username === username && u.password === password);
      done(null, user ? { id: user.id, username: user.username } : false);
    }),
  );
  auth.serializeUser((user, done) => done(null, user.id));
  auth.deserializeUser((id: string, done) => {
    const user = config.users.find((u) => u.id === id);
    done(null, user ? { id: user.id, username: user.username } : false);
  });

  const falgate = createFalgate({
    ...config.falgate,
    // The whole integration: passport put the signed-in user on `req`.
    authorize: (_request, { req }) => (req.user ? { id: req.user.id } : null),
  });

  const app = express();
  app.use(
    session({
      secret: config.sessionSecret,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: "lax" },
    }),
  );
  app.use(auth.session());
  app.post("/login", express.urlencoded({ extended: false }), auth.authenticate("local"), (req, res) => {
    res.json({ id: req.user?.id });
  });
  app.post("/logout", (req, res, next) => {
    req.logout((error) => (error ? next(error) : res.json({ signedOut: true })));
  });
  app.use("/api/fal/proxy", createFalgateHandler(falgate));
  return app;
}
