import { createEmitter, type Emitter } from "../events/emitter.js";
import { createLimiter, type Limiter } from "../limits/limiter.js";
import { consoleLogger } from "../logger.js";
import {
  compileEndpointPolicy,
  compileTargetPolicy,
  DEFAULT_TARGETS,
  type EndpointPolicy,
  type TargetPolicy,
} from "../policy/index.js";
import { allowHeadersRule, type CorsSettings } from "../proxy/cors.js";
import { compileHeaderRule, DEFAULT_FORWARD_HEADERS, type HeaderRule } from "../proxy/headers.js";
import { compileHostPolicy, type HostPolicy } from "../proxy/hosts.js";
import { createMemoryStore } from "../store/memory.js";
import type { Store } from "../store/types.js";
import { createTokenIssuerResolver, type TokenIssuer } from "../tokens/jwt.js";
import { resolveTunnelOptions, type TunnelLimits } from "../tunnel/options.js";
import type {
  AuthorizeHook,
  CredentialsResolver,
  FalgateEnv,
  FalgateOptions,
  FetchLike,
  Logger,
  RequestInfo,
  ResponseInfo,
} from "../types.js";
import { DEFAULTS } from "./defaults.js";
import { envRule } from "./env.js";

/**
 * Options after validation and defaulting: built once per instance, shared by the HTTP proxy, the token route and
 * the tunnel, read on every request.
 */
export interface Settings<C extends object = object> {
  credentials: string | CredentialsResolver | undefined;
  /** The env a request sees, from its platform env (the one env rule). */
  env: (platform: object | undefined) => FalgateEnv;
  authorize: AuthorizeHook<C> | undefined;
  allowUnauthenticated: boolean;
  allowedOrigins: ReadonlySet<string>;
  /** The host check against DNS rebinding (`allowedHosts`); `null` when it is off. */
  hosts: HostPolicy | null;
  cors: CorsSettings;
  endpoints: EndpointPolicy;
  targets: TargetPolicy;
  webhookOrigins: readonly string[];
  /** Which request headers go to fal (names and families). */
  forwardHeaders: HeaderRule;
  maxBodySize: number;
  timeouts: { connect: number; headers: number; idle: number };
  path: string;
  trustProxy: boolean;
  fetch: FetchLike;
  /** Where a validated target goes instead of fal: origin and path with query, and the host to name to the override. */
  upstream: ((target: URL) => UpstreamMapping) | undefined;
  logger: Logger;
  onRequest: ((info: RequestInfo<C>) => void | Promise<void>) | undefined;
  onResponse: ((info: ResponseInfo<C>) => void | Promise<void>) | undefined;
  events: Emitter;
  store: Store;
  /**
   * Rate limits, concurrency caps and budgets of proxied calls and tunnels; `null` when none of them is limited
   * (zero work per call). When not `null`, it is `mintLimiter`.
   */
  limiter: Limiter | null;
  /** The limiter token mints go through (the default mint rate applies without `limits`); `null` only when disabled. */
  mintLimiter: Limiter | null;
  falTokenMaxExpiration: number;
  /** The falgate token issuer for an env; `null` when no token key is configured. */
  tokenIssuer: (env: FalgateEnv) => TokenIssuer | null;
  tunnel: TunnelLimits;
}

/** A target mapped by the `upstream` override. */
export interface UpstreamMapping {
  /** `http(s)://host[:port]` */
  origin: string;
  /** Path and query. */
  path: string;
  /** The original host, sent as `x-falgate-upstream-host` (string overrides only). */
  host: string | null;
}

const PATH = /^(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*\/?$/;

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

function fn<T>(option: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== "function") fail(option, "must be a function");
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

/** Validates options once, when the instance is created; a bad option throws a `TypeError` naming it. */
export function resolveOptions<C extends object>(options: FalgateOptions<C>): Settings<C> {
  if (options === null || typeof options !== "object") fail("options", "must be an object");
  const { credentials } = options;
  if (credentials !== undefined && typeof credentials !== "function") {
    if (typeof credentials !== "string" || credentials.trim() === "") {
      fail("credentials", "must be a non-empty string or a function");
    }
  }
  if (options.env !== undefined && (options.env === null || typeof options.env !== "object")) {
    fail("env", "must be an object of environment variables");
  }
  const allowedOrigins = new Set(
    (options.allowedOrigins ?? []).map((o) => normaliseOrigin("allowedOrigins", o)),
  );
  const webhookOrigins = (options.webhookOrigins ?? []).map((o) =>
    normaliseOrigin("webhookOrigins", o, true),
  );
  const forward = compileHeaderRule(
    options.forwardHeaders ?? DEFAULT_FORWARD_HEADERS,
    (message) => fail("forwardHeaders", message),
    true,
  );
  const corsOptions = options.cors ?? {};
  const allowHeaders = allowHeadersRule(
    forward,
    compileHeaderRule(corsOptions.allowHeaders ?? [], (message) => fail("cors.allowHeaders", message), false),
  );

  const path = options.path ?? DEFAULTS.path;
  if (typeof path !== "string" || !path.startsWith("/") || !PATH.test(path)) {
    fail("path", `must be an absolute path like "/api/fal/proxy", got ${JSON.stringify(path)}`);
  }
  if (options.trustProxy !== undefined && typeof options.trustProxy !== "boolean") {
    fail("trustProxy", "must be a boolean");
  }
  fn("fetch", options.fetch);
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const store = options.store ?? createMemoryStore();
  if (typeof store !== "object" || store === null || typeof store.addOnce !== "function") {
    fail("store", "must be a falgate Store (createMemoryStore(), createRedisStore(...), ...)");
  }
  const authorize = fn("authorize", options.authorize);
  const logger = options.logger ?? consoleLogger();
  if (options.observers !== undefined && !Array.isArray(options.observers)) {
    fail("observers", "must be an array of functions");
  }
  for (const observer of options.observers ?? []) fn("observers[]", observer);
  const t = DEFAULTS.timeouts;
  const events = createEmitter(logger, options.observers ?? []);
  const limiter = createLimiter(options.limits, {
    store,
    logger,
    onSpend: (spend) => events.active && events.emit({ type: "spend", ...spend }),
  });

  return {
    credentials,
    env: envRule(options.env),
    authorize,
    allowUnauthenticated: options.allowUnauthenticated === true,
    allowedOrigins,
    hosts: compileHostPolicy(options.allowedHosts, allowedOrigins, authorize !== undefined),
    cors: {
      credentials: corsOptions.credentials ?? DEFAULTS.cors.credentials,
      maxAge: nonNegative("cors.maxAge", corsOptions.maxAge, DEFAULTS.cors.maxAge),
      allowHeaders,
    },
    endpoints: compileEndpointPolicy(options.allowedEndpoints),
    targets: compileTargetPolicy(options.allowedTargets ?? DEFAULT_TARGETS),
    webhookOrigins,
    forwardHeaders: forward,
    maxBodySize: nonNegative("maxBodySize", options.maxBodySize, DEFAULTS.maxBodySize),
    timeouts: {
      connect: nonNegative("timeouts.connect", options.timeouts?.connect, t.connect),
      headers: nonNegative("timeouts.headers", options.timeouts?.headers, t.headers),
      idle: nonNegative("timeouts.idle", options.timeouts?.idle, t.idle),
    },
    path: path.length > 1 ? path.replace(/\/+$/, "") : path,
    trustProxy: options.trustProxy ?? DEFAULTS.trustProxy,
    fetch: fetchImpl,
    upstream: resolveUpstream(options.upstream),
    logger,
    onRequest: fn("onRequest", options.onRequest),
    onResponse: fn("onResponse", options.onResponse),
    events,
    store,
    limiter: limiter?.limitsCalls ? limiter : null,
    mintLimiter: limiter,
    falTokenMaxExpiration: nonNegative(
      "falTokens.maxExpiration",
      options.falTokens?.maxExpiration,
      DEFAULTS.falTokenMaxExpiration,
    ),
    tokenIssuer: createTokenIssuerResolver(options.tokens ?? {}, store),
    tunnel: resolveTunnelOptions(options.tunnel, path),
  };
}

function resolveUpstream(upstream: FalgateOptions["upstream"]): Settings["upstream"] {
  if (upstream === undefined) return undefined;
  if (typeof upstream === "function") {
    return (target) => {
      const url = new URL(String(upstream(new URL(target.href))));
      return { origin: url.origin, path: url.pathname + url.search, host: null };
    };
  }
  let base: URL;
  try {
    base = new URL(upstream);
  } catch {
    fail("upstream", `must be an http(s) origin or a function, got ${JSON.stringify(upstream)}`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") fail("upstream", "must be an http(s) URL");
  const { origin } = base;
  const prefix = base.pathname.replace(/\/$/, "");
  // A string override keeps path and query: no URL is parsed per call.
  return (target) => ({ origin, path: `${prefix}${target.pathname}${target.search}`, host: target.host });
}
