import { base64url } from "jose";
import { FalgateError } from "../errors.js";
import { secureUrl } from "../policy/secure-url.js";
import type { Principal } from "../types.js";
import type {
  BearerJwtOptions,
  CookieTokenReader,
  JwtAlgorithm,
  JwtClaims,
  PrincipalResult,
  SecretSource,
} from "./types.js";

/** Every option of `bearerJwt` a preset lets you set or override (what you set wins over the preset). */
export type PresetOverrides<T extends JwtClaims> = Partial<BearerJwtOptions<T>>;

/** Google's key set for Firebase Auth ID tokens (the same for every Firebase project: `issuer`/`audience` tell them apart). */
export const FIREBASE_JWKS_URL =
  "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

/** The claims of an Auth0 access token. */
export interface Auth0Claims extends JwtClaims {
  /** The application (client id) the token was issued to. */
  azp?: string;
  /** Space-separated scopes granted. */
  scope?: string;
  /** RBAC permissions (when "Add Permissions in the Access Token" is on). */
  permissions?: string[];
  org_id?: string;
}

/** Where an Auth0 tenant is and which API its tokens are for. */
export interface Auth0JwtSettings extends Omit<PresetOverrides<Auth0Claims>, "audience"> {
  /** Your Auth0 domain (`tenant.us.auth0.com`) or custom domain, with or without `https://`. */
  domain: string;
  /** Your API's identifier: the `audience` the browser asks tokens for (`getAccessTokenSilently`). */
  audience: string | readonly string[];
}

/**
 * `bearerJwt` options for Auth0 access tokens: key set at `https://{domain}/.well-known/jwks.json`, issuer
 * `https://{domain}/` (trailing slash included, as Auth0 writes it), your API identifier as audience, RS256.
 * @example
 * authorize: bearerJwt(auth0Jwt({ domain: "tenant.us.auth0.com", audience: "https://api.example.com" }))
 */
export function auth0Jwt(settings: Auth0JwtSettings): BearerJwtOptions<Auth0Claims> {
  const { domain, ...rest } = object("auth0Jwt", settings);
  const host = hostOf("auth0Jwt", "domain", domain);
  return {
    jwksUrl: `https://${host}/.well-known/jwks.json`,
    issuer: `https://${host}/`,
    algorithms: ["RS256"],
    ...rest,
  };
}

/** The claims of a Clerk session token. */
export interface ClerkClaims extends JwtClaims {
  /** The session id (`sess_…`). */
  sid?: string;
  /** The origin the token was issued for: checked against `authorizedParties`. */
  azp?: string;
  /** Session token version. */
  v?: number;
  /** Minutes since the first and second factor verifications. */
  fva?: number[];
  /** The active organization (session token v2): id, role, slug, permissions. */
  o?: { id?: string; rol?: string; slg?: string; per?: string };
}

/** Which Clerk instance, and which origins its tokens may come from. */
export interface ClerkJwtSettings extends PresetOverrides<ClerkClaims> {
  /**
   * Your instance's Frontend API URL (Dashboard → API keys → "Frontend API URL"), e.g. `https://clerk.example.com`
   * or `https://your-app.clerk.accounts.dev`. Or give `publishableKey`, which encodes it.
   */
  frontendApi?: string;
  /** Your publishable key (`pk_live_…`/`pk_test_…`), instead of `frontendApi`. */
  publishableKey?: string;
  /** The origins of your app (`https://app.example.com`): Clerk tokens carry no audience, `azp` names the origin. */
  authorizedParties: readonly string[];
}

/**
 * `bearerJwt` options for Clerk session tokens: key set at `{frontendApi}/.well-known/jwks.json`, issuer the
 * Frontend API URL, RS256, no audience (Clerk tokens have none) but `azp` checked against `authorizedParties`, and
 * the token read from the `__session` cookie Clerk keeps on your domain when no bearer header is sent.
 * @example
 * authorize: bearerJwt(clerkJwt({ publishableKey: env.CLERK_PUBLISHABLE_KEY, authorizedParties: ["https://app.example.com"] }))
 */
export function clerkJwt(settings: ClerkJwtSettings): BearerJwtOptions<ClerkClaims> {
  const { frontendApi, publishableKey, ...rest } = object("clerkJwt", settings);
  if ((frontendApi === undefined) === (publishableKey === undefined)) {
    fail("clerkJwt", "frontendApi", "(or `publishableKey`) is required, and only one of them");
  }
  const host =
    frontendApi !== undefined
      ? hostOf("clerkJwt", "frontendApi", frontendApi)
      : hostOf("clerkJwt", "publishableKey", clerkHost(publishableKey!));
  if (!Array.isArray(rest.authorizedParties) || rest.authorizedParties.length === 0) {
    fail("clerkJwt", "authorizedParties", "must list your app's origins (Clerk tokens carry no audience)");
  }
  return {
    jwksUrl: `https://${host}/.well-known/jwks.json`,
    issuer: `https://${host}`,
    audience: false,
    algorithms: ["RS256"],
    cookie: "__session",
    ...rest,
  };
}

/** The claims of a Firebase Auth ID token. */
export interface FirebaseClaims extends JwtClaims {
  /** When the user signed in (seconds). */
  auth_time?: number;
  user_id?: string;
  email?: string;
  email_verified?: boolean;
  phone_number?: string;
  name?: string;
  picture?: string;
  firebase?: {
    /** `password`, `google.com`, `anonymous`, `custom`, ... */
    sign_in_provider?: string;
    identities?: Record<string, unknown>;
    tenant?: string;
  };
}

/** Which Firebase project. */
export interface FirebaseJwtSettings extends PresetOverrides<FirebaseClaims> {
  /** Your Firebase project id. */
  projectId: string;
  /** Let anonymous sign-ins (`sign_in_provider: "anonymous"`) call: anyone can create one without credentials. @default false */
  allowAnonymous?: boolean;
}

/**
 * `bearerJwt` options for Firebase Auth ID tokens (`await user.getIdToken()`): Google's key set, issuer
 * `https://securetoken.google.com/{projectId}`, audience the project id, RS256, `sub` and `auth_time` required, and
 * anonymous sign-ins refused (403) unless `allowAnonymous`.
 * @example
 * authorize: bearerJwt(firebaseJwt({ projectId: "my-project" }))
 */
export function firebaseJwt(settings: FirebaseJwtSettings): BearerJwtOptions<FirebaseClaims> {
  const {
    projectId,
    allowAnonymous = false,
    principal,
    requiredClaims = [],
    ...rest
  } = object("firebaseJwt", settings);
  if (typeof projectId !== "string" || !/^[A-Za-z0-9][A-Za-z0-9.:-]{0,99}$/.test(projectId)) {
    fail("firebaseJwt", "projectId", "must be your Firebase project id");
  }
  return {
    jwksUrl: FIREBASE_JWKS_URL,
    issuer: `https://securetoken.google.com/${projectId}`,
    audience: projectId,
    algorithms: ["RS256"],
    ...rest,
    requiredClaims: ["sub", "auth_time", ...requiredClaims],
    principal: guarded(
      allowAnonymous,
      (claims) => claims.firebase?.sign_in_provider === "anonymous",
      "Firebase",
      principal,
    ),
  };
}

/** The claims of a Supabase Auth access token. */
export interface SupabaseClaims extends JwtClaims {
  /** The Postgres role: `authenticated` for signed-in users. */
  role?: string;
  email?: string;
  phone?: string;
  /** Authenticator assurance level: `aal1`, or `aal2` after MFA. */
  aal?: string;
  amr?: Array<{ method: string; timestamp: number }>;
  session_id?: string;
  /** True for anonymous sign-ins. */
  is_anonymous?: boolean;
  app_metadata?: Record<string, unknown>;
  user_metadata?: Record<string, unknown>;
}

/** Which Supabase project, and how its tokens are signed. */
export interface SupabaseJwtSettings extends Omit<PresetOverrides<SupabaseClaims>, "cookie" | "secret"> {
  /** Your project URL: `https://<ref>.supabase.co` (or your custom domain, or `http://127.0.0.1:54321` locally). */
  url: string;
  /**
   * The project's legacy JWT secret (HS256), or a function reading it from the env. Omit it when the project uses
   * asymmetric signing keys: they are read from `{url}/auth/v1/.well-known/jwks.json`.
   */
  secret?: SecretSource;
  /**
   * Also read the session cookie `@supabase/ssr` writes (`sb-<ref>-auth-token`, possibly base64 and split in
   * chunks): `true`, or the storage key you gave `cookieOptions.name`. @default false
   */
  cookie?: boolean | string;
  /** Let anonymous sign-ins (`is_anonymous: true`) call: anyone can create one without credentials. @default false */
  allowAnonymous?: boolean;
}

/**
 * `bearerJwt` options for Supabase Auth access tokens: issuer `{url}/auth/v1`, audience `authenticated`, keys from
 * the project's JWKS (ES256/RS256) or its legacy `secret` (HS256), anonymous users refused (403) unless
 * `allowAnonymous`, and optionally the `@supabase/ssr` session cookie.
 * @example
 * authorize: bearerJwt(supabaseJwt({ url: "https://abcdefghijklmnopqrst.supabase.co", cookie: true }))
 */
export function supabaseJwt(settings: SupabaseJwtSettings): BearerJwtOptions<SupabaseClaims> {
  const {
    url,
    secret,
    cookie = false,
    allowAnonymous = false,
    principal,
    requiredClaims = [],
    ...rest
  } = object("supabaseJwt", settings);
  const project = projectUrl(url);
  const keys: PresetOverrides<SupabaseClaims> =
    secret === undefined
      ? { jwksUrl: `${project.origin}/auth/v1/.well-known/jwks.json`, algorithms: ["ES256", "RS256"] }
      : { secret, algorithms: ["HS256"] satisfies JwtAlgorithm[] };
  let reader: CookieTokenReader | undefined;
  if (cookie !== false) {
    if (cookie !== true && (typeof cookie !== "string" || cookie === "")) {
      fail(
        "supabaseJwt",
        "cookie",
        "must be a boolean or the storage key (cookie name) of your Supabase client",
      );
    }
    reader = supabaseSessionCookie(
      cookie === true ? `sb-${project.hostname.split(".")[0]}-auth-token` : cookie,
    );
  }
  return {
    ...keys,
    issuer: `${project.origin}/auth/v1`,
    audience: "authenticated",
    ...(reader === undefined ? {} : { cookie: reader }),
    ...rest,
    requiredClaims: ["sub", ...requiredClaims],
    principal: guarded(allowAnonymous, (claims) => claims.is_anonymous === true, "Supabase", principal),
  };
}

/**
 * Reads the access token out of the session cookie `@supabase/ssr` writes: the cookie `name`, or its chunks
 * `name.0`, `name.1`, … joined; a `base64-` prefix means base64url JSON; the JSON is the session, whose
 * `access_token` is the JWT.
 * @example
 * bearerJwt({ ...options, cookie: supabaseSessionCookie("sb-abcdefghijklmnopqrst-auth-token") })
 */
export function supabaseSessionCookie(name: string): CookieTokenReader {
  if (typeof name !== "string" || name === "") fail("supabaseSessionCookie", "name", "must be a cookie name");
  return (cookies) => {
    let value = cookies.get(name);
    if (value === undefined) {
      const chunks: string[] = [];
      for (let i = 0; i < 64; i++) {
        const chunk = cookies.get(`${name}.${i}`);
        if (chunk === undefined) break;
        chunks.push(chunk);
      }
      if (chunks.length === 0) return null;
      value = chunks.join("");
    }
    try {
      if (value.startsWith("base64-")) value = new TextDecoder().decode(base64url.decode(value.slice(7)));
      const session: unknown = JSON.parse(value);
      // Old auth-helpers stored an array whose first item was the access token.
      const token = Array.isArray(session)
        ? session[0]
        : (session as { access_token?: unknown } | null)?.access_token;
      return typeof token === "string" ? token : null;
    } catch {
      return null;
    }
  };
}

/** Wraps a principal mapping with the refusal of anonymous sign-ins (403: signed in, but not allowed). */
function guarded<T extends JwtClaims>(
  allowAnonymous: boolean,
  isAnonymous: (claims: T) => boolean,
  provider: string,
  principal: BearerJwtOptions<T>["principal"],
): (claims: T, request: Request) => PrincipalResult | Promise<PrincipalResult> {
  if (typeof allowAnonymous !== "boolean")
    fail(`${provider.toLowerCase()}Jwt`, "allowAnonymous", "must be a boolean");
  if (principal !== undefined && typeof principal !== "function") {
    fail(`${provider.toLowerCase()}Jwt`, "principal", "must be a function");
  }
  return (claims, request) => {
    if (!allowAnonymous && isAnonymous(claims)) {
      throw new FalgateError(
        "forbidden",
        `Anonymous ${provider} sign-ins may not use this proxy: sign in with an account.`,
      );
    }
    if (principal !== undefined) return principal(claims, request);
    return typeof claims.sub === "string" && claims.sub !== ""
      ? ({ id: claims.sub } satisfies Principal)
      : null;
  };
}

/** The host of `value` (`host`, `https://host`, `https://host/`): https only. */
function hostOf(preset: string, option: string, value: unknown): string {
  if (typeof value !== "string" || value === "")
    fail(preset, option, "must be a host name or an https:// URL");
  let url: URL;
  try {
    url = new URL(value.includes("://") ? value : `https://${value}`);
  } catch {
    fail(preset, option, "must be a host name or an https:// URL");
  }
  if (url.protocol !== "https:" || (url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    fail(preset, option, "must be a host name or an https:// URL without a path");
  }
  if (url.username !== "" || url.password !== "") fail(preset, option, "must not carry credentials");
  return url.host;
}

/** The Frontend API host a Clerk publishable key encodes (`pk_test_` + base64 of `host$`). */
function clerkHost(key: unknown): string {
  const match = typeof key === "string" ? /^pk_(test|live)_([A-Za-z0-9+/=_-]+)$/.exec(key) : null;
  let decoded = "";
  try {
    decoded = match ? atob(match[2]!.replace(/-/g, "+").replace(/_/g, "/")) : "";
  } catch {
    decoded = "";
  }
  if (!decoded.endsWith("$") || decoded.length < 2) {
    fail("clerkJwt", "publishableKey", "is not a Clerk publishable key (pk_live_… or pk_test_…)");
  }
  return decoded.slice(0, -1);
}

/** A Supabase project URL: `https:`, or `http:` on loopback (the local stack); no path. */
function projectUrl(value: unknown): URL {
  const url = typeof value === "string" ? secureUrl(value) : undefined;
  if (!url) {
    fail(
      "supabaseJwt",
      "url",
      "must be your project URL, https://<ref>.supabase.co (http:// only on loopback)",
    );
  }
  if (url.pathname !== "/" || url.search || url.hash || url.username || url.password) {
    fail("supabaseJwt", "url", "must be the project URL alone, without a path (https://<ref>.supabase.co)");
  }
  return url;
}

function object<S>(preset: string, settings: S): S {
  if (settings === null || typeof settings !== "object") fail(preset, "settings", "must be an object");
  return settings;
}

function fail(preset: string, option: string, message: string): never {
  throw new TypeError(`falgate: ${preset} option \`${option}\` ${message}`);
}
