import { DEFAULT_FORWARD_HEADERS } from "./headers.js";
import { consoleLogger } from "./logger.js";
import {
  compileEndpointPolicy,
  compileTargetPolicy,
  DEFAULT_TARGETS,
  type EndpointPolicy,
  type TargetPolicy,
} from "./policy/index.js";
import { createTokenIssuerResolver, type TokenIssuer } from "./tokens/jwt.js";
import { resolveTunnelOptions } from "./tunnel/options.js";
import type {
  AuthorizeHook,
  CredentialsResolver,
  FalgateEnv,
  FalgateOptions,
  FetchLike,
  Logger,
  RequestInfo,
  ResponseInfo,
} from "./types.js";

/** Options after validation and defaulting: built once per handler, read on every request. */
export interface ResolvedConfig {
  credentials: string | CredentialsResolver | undefined;
  env: FalgateEnv;
  authorize: AuthorizeHook | undefined;
  allowUnauthenticated: boolean;
  allowedOrigins: ReadonlySet<string>;
  cors: { credentials: boolean; maxAge: number; allowHeaders: string };
  endpoints: EndpointPolicy;
  targets: TargetPolicy;
  webhookOrigins: readonly string[];
  forwardHeaders: ReadonlySet<string>;
  maxBodySize: number;
  headersTimeout: number;
  idleTimeout: number;
  fetch: FetchLike;
  upstream: ((target: URL) => { url: string; host: string | null }) | undefined;
  logger: Logger;
  onRequest: ((info: RequestInfo) => void | Promise<void>) | undefined;
  onResponse: ((info: ResponseInfo) => void | Promise<void>) | undefined;
  falTokenMaxExpiration: number;
  /** The falgate token issuer for an env; `null` when no token key is configured. */
  tokenIssuer: (env: FalgateEnv) => TokenIssuer | null;
}

/** Default request body cap: 32 MiB. */
export const DEFAULT_MAX_BODY_SIZE = 32 * 1024 * 1024;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

function fail(option: string, message: string): never {
  throw new TypeError(`falgate: option \`${option}\` ${message}`);
}

function nonNegative(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    fail(option, `must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

function normaliseOrigin(option: string, value: string, httpsOnly = false): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(option, `has an entry that is not an origin: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "https:" && (httpsOnly || url.protocol !== "http:")) {
    fail(option, `entries must be ${httpsOnly ? "https" : "http(s)"} origins: ${value}`);
  }
  if (url.origin !== value.replace(/\/$/, "")) {
    fail(option, `entries must be bare origins like "https://app.example.com", got ${JSON.stringify(value)}`);
  }
  return url.origin;
}

/** Validates options once, at handler creation; a bad option throws a `TypeError` naming it. */
export function resolveConfig(options: FalgateOptions): ResolvedConfig {
  if (options === null || typeof options !== "object") fail("options", "must be an object");
  const { credentials } = options;
  if (credentials !== undefined && typeof credentials !== "function") {
    if (typeof credentials !== "string" || credentials.trim() === "") {
      fail("credentials", "must be a non-empty string or a function");
    }
  }
  if (options.authorize !== undefined && typeof options.authorize !== "function") {
    fail("authorize", "must be a function");
  }
  const allowedOrigins = new Set(
    (options.allowedOrigins ?? []).map((o) => normaliseOrigin("allowedOrigins", o)),
  );
  const webhookOrigins = (options.webhookOrigins ?? []).map((o) =>
    normaliseOrigin("webhookOrigins", o, true),
  );
  const forward = new Set<string>();
  for (const name of options.forwardHeaders ?? DEFAULT_FORWARD_HEADERS) {
    const lower = String(name).toLowerCase();
    if (!HEADER_NAME.test(lower))
      fail("forwardHeaders", `has an invalid header name: ${JSON.stringify(name)}`);
    if (lower === "authorization" || lower === "cookie" || lower === "x-fal-target-url" || lower === "host") {
      fail("forwardHeaders", `must not contain ${lower}: falgate sets or strips it`);
    }
    forward.add(lower);
  }
  const corsOptions = options.cors ?? {};
  const allowHeaders = new Set(["content-type", "accept", "authorization", "x-fal-target-url", ...forward]);
  for (const h of corsOptions.allowHeaders ?? []) allowHeaders.add(String(h).toLowerCase());

  // Validated here so a bad `tunnel` option fails at creation even where only the HTTP handler runs.
  resolveTunnelOptions(options.tunnel);
  if (options.fetch !== undefined && typeof options.fetch !== "function") fail("fetch", "must be a function");
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  return {
    credentials,
    env: options.env ?? {},
    authorize: options.authorize,
    allowUnauthenticated: options.allowUnauthenticated === true,
    allowedOrigins,
    cors: {
      credentials: corsOptions.credentials ?? true,
      maxAge: nonNegative("cors.maxAge", corsOptions.maxAge, 600),
      allowHeaders: [...allowHeaders].join(", "),
    },
    endpoints: compileEndpointPolicy(options.allowedEndpoints),
    targets: compileTargetPolicy(options.allowedTargets ?? DEFAULT_TARGETS),
    webhookOrigins,
    forwardHeaders: forward,
    maxBodySize: nonNegative("maxBodySize", options.maxBodySize, DEFAULT_MAX_BODY_SIZE),
    headersTimeout: nonNegative("timeouts.headers", options.timeouts?.headers, 300_000),
    idleTimeout: nonNegative("timeouts.idle", options.timeouts?.idle, 60_000),
    fetch: fetchImpl,
    upstream: resolveUpstream(options.upstream),
    logger: options.logger ?? consoleLogger(),
    onRequest: options.onRequest,
    onResponse: options.onResponse,
    falTokenMaxExpiration: nonNegative("falTokens.maxExpiration", options.falTokens?.maxExpiration, 120),
    tokenIssuer: createTokenIssuerResolver(options.tokens),
  };
}

function resolveUpstream(upstream: FalgateOptions["upstream"]): ResolvedConfig["upstream"] {
  if (upstream === undefined) return undefined;
  if (typeof upstream === "function") {
    return (target) => ({ url: String(upstream(new URL(target.href))), host: null });
  }
  let base: URL;
  try {
    base = new URL(upstream);
  } catch {
    fail("upstream", `must be an http(s) origin or a function, got ${JSON.stringify(upstream)}`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") fail("upstream", "must be an http(s) URL");
  const prefix = `${base.origin}${base.pathname.replace(/\/$/, "")}`;
  return (target) => ({ url: `${prefix}${target.pathname}${target.search}`, host: target.host });
}
