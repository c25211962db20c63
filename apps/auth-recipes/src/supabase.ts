// Recipe (docs/auth.md#supabase): Supabase Auth issues JWTs, so falgate verifies them itself with `bearerJwt` and
// the `supabaseJwt` preset: from `Authorization: Bearer` (a SPA passing `session.access_token`) or from the session
// cookie `@supabase/ssr` writes (server-rendered apps). The `/login` route is the app's, as Supabase documents it.
import { bearerJwt, type FalgateOptions, type FetchLike, supabaseJwt } from "@falgate/core";
import { createFalgate, createFalgateHandler, type ExpressContext } from "@falgate/express";
import { createServerClient, parseCookieHeader, serializeCookieHeader } from "@supabase/ssr";
import express from "express";

/** The Express app: `/login` signs in with `@supabase/ssr` (session cookies), and the fal proxy. */
export function createSupabaseApp(config: {
  /** `https://<ref>.supabase.co` */
  supabaseUrl: string;
  /** The project's publishable (anon) key. */
  supabaseKey: string;
  /** How the server reaches Supabase (tests route it to a local stand-in). @default globalThis.fetch */
  fetch?: FetchLike;
  falgate?: Omit<FalgateOptions<ExpressContext>, "authorize">;
}): express.Express {
  const falgate = createFalgate({
    ...config.falgate,
    authorize: bearerJwt(
      supabaseJwt({
        url: config.supabaseUrl,
        cookie: true,
        ...(config.fetch ? { fetch: config.fetch } : {}),
      }),
    ),
  });

  const app = express();
  app.post("/login", express.json(), async (req, res) => {
    const supabase = createServerClient(config.supabaseUrl, config.supabaseKey, {
      cookies: {
        getAll: () =>
          parseCookieHeader(req.headers.cookie ?? "").map(({ name, value }) => ({
            name,
            value: value ?? "",
          })),
        setAll: (cookies) => {
          for (const { name, value, options } of cookies) {
            res.append("Set-Cookie", serializeCookieHeader(name, value, options));
          }
        },
      },
      ...(config.fetch ? { global: { fetch: config.fetch as typeof fetch } } : {}),
    });
    const { email, password } = req.body as { email: string; password: string };
    const { data, error } = await supabase.auth.signInWithPassword({ email, password });
    if (error) {
      res.status(401).json({ error: error.message });
      return;
    }
    res.json({ user: data.user.id });
  });
  app.use("/api/fal/proxy", createFalgateHandler(falgate));
  return app;
}
