import type { FalgateObserver } from "./events/types.js";
import type { LimitsOptions } from "./limits/options.js";
import type { Store } from "./store/types.js";
import type { TokenOptions } from "./tokens/jwt.js";
import type { TunnelOptions } from "./tunnel/options.js";

/** Environment variables as a plain object (`process.env` on Node, Worker bindings on Cloudflare). */
export type FalgateEnv = Readonly<Record<string, unknown>>;

/** Who is calling, as decided by the `authorize` hook. */
export interface Principal {
  /** A stable id for the caller (user id, session id, API client id). */
  id: string;
  /**
   * Endpoint patterns this principal may use, narrowing (never widening) `allowedEndpoints`.
   * Same syntax as `allowedEndpoints`. Omit for "whatever the proxy allows".
   */
  endpoints?: readonly string[];
  /** Free-form data passed to hooks (plan, org, ...). */
  data?: Readonly<Record<string, unknown>>;
}

/**
 * What every hook receives next to the Fetch `Request`: the env of this request and the framework's own objects
 * (`C`: Express `{ req, res }`, Hono `{ c }`, Workers `{ ctx }`, ...), typed by the adapter in use.
 */
export type HookContext<C extends object = object> = C & {
  /** `options.env` layered over the platform's env (read live). */
  env: FalgateEnv;
};

/** Decides who may call: return a principal to allow, `null`/`undefined`/`false` to answer 401, or throw a `FalgateError`. */
export type AuthorizeHook<C extends object = object> = (
  request: Request,
  ctx: HookContext<C>,
) => Principal | null | undefined | false | Promise<Principal | null | undefined | false>;

/** Resolves the fal key (`key_id:key_secret`) at request time. */
export type CredentialsResolver = (ctx: {
  request: Request;
  env: FalgateEnv;
  principal: Principal;
}) => string | undefined | Promise<string | undefined>;

/** A fetch-compatible transport (the global `fetch`, undici's, a Worker's). */
export type FetchLike = (input: Request | string | URL, init?: RequestInit) => Promise<Response>;

/** A structured logger; falgate never passes secrets to it. */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A host + path rule for `x-fal-target-url`. */
export interface TargetRule {
  /** Exact host name (lowercase, no port, no trailing dot), e.g. `queue.fal.run`. */
  host: string;
  /**
   * Allowed paths: `"/**"` for any path, an exact path (`"/tokens/"`), or a prefix ending in `/**`.
   * @default ["/**"]
   */
  paths?: readonly string[];
}

/** CORS for browsers on other origins (only for origins in `allowedOrigins`). */
export interface CorsOptions {
  /** Send `Access-Control-Allow-Credentials: true`. @default true */
  credentials?: boolean;
  /** Preflight cache lifetime in seconds. @default 600 */
  maxAge?: number;
  /**
   * Extra request headers to allow in preflights, names or `prefix-*` families (the forwarded headers are always
   * allowed). @default []
   */
  allowHeaders?: readonly string[];
}

/** Timeouts in milliseconds; `0` disables one. */
export interface TimeoutOptions {
  /** Opening a connection to fal (TCP + TLS); applied by bindings that dial themselves (Node). @default 10_000 */
  connect?: number;
  /** From sending the request until upstream answers with headers. @default 300_000 */
  headers?: number;
  /** Longest wait on fal for the next chunk of a streamed body (a client not reading does not count; fal sends SSE keep-alives every 15 s). @default 60_000 */
  idle?: number;
}

/** What the `onRequest` hook sees, before forwarding. */
export interface RequestInfo<C extends object = object> {
  principal: Principal;
  method: string;
  /** The validated target URL (what the client asked for, never the upstream override). */
  target: URL;
  /** `owner/app[/path]`, or `null` for non-app targets (tokens, storage). */
  endpointId: string | null;
  request: Request;
  /** The env and the framework's objects, as `authorize` got them. */
  ctx: HookContext<C>;
  /** Set when the call mints a token (the token route, or a fal token request): which kind, for which apps. */
  mint?: MintInfo;
}

/** A token mint as the `onRequest` hook sees it. */
export interface MintInfo {
  /** `falgate`: a tunnel token falgate signs (nothing is forwarded); `fal`: a fal token requested with the key. */
  type: "falgate" | "fal";
  /** The app ids (token route) or the fal app aliases (`allowed_apps` of a fal token request) it is for. */
  apps: readonly string[];
}

/** What the `onResponse` hook sees, when the answer is complete (body fully sent or failed). */
export interface ResponseInfo<C extends object = object> extends Omit<RequestInfo<C>, "request" | "mint"> {
  status: number;
  durationMs: number;
  /** Request body bytes forwarded upstream. */
  bytesIn: number;
  /** Response body bytes sent to the client. */
  bytesOut: number;
  requestId: string | null;
  /** Set when the stream to the client ended with an error (upstream dropped, idle timeout, client gone). */
  error?: string;
}

/** Options of the fal token interception (`POST https://rest.fal.ai/tokens/`). */
export interface FalTokenOptions {
  /** Largest `token_expiration` (seconds) a browser may ask fal for. @default 120 */
  maxExpiration?: number;
}

/**
 * Every option of `createFalgate`; each has a documented default (`DEFAULTS`). `C` is the framework context the
 * adapter hands to hooks (Express `{ req, res }`, Hono `{ c }`, ...).
 */
export interface FalgateOptions<C extends object = object> {
  /**
   * The fal key, or a resolver called per request. Falls back to `env.FAL_KEY`, then
   * `env.FAL_KEY_ID` + `env.FAL_KEY_SECRET`. A missing key answers `missing_credentials`.
   */
  credentials?: string | CredentialsResolver;
  /**
   * Environment layered over the platform's (`process.env` on Node, the Worker bindings, Hono's `c.env`): a name
   * set here wins; every other name is read live from the platform. @default {}
   */
  env?: FalgateEnv;
  /**
   * Decides who may call. Without it only same-origin browser calls (and `allowedOrigins`) pass,
   * and a warning is logged once.
   */
  authorize?: AuthorizeHook<C>;
  /**
   * Let anyone call (local development only). Logged as a warning at creation.
   * @default false
   */
  allowUnauthenticated?: boolean;
  /**
   * Browser origins (e.g. `https://app.example.com`) allowed to call cross-origin, with CORS.
   * Requests carrying any other cross-site `Origin` are refused with `origin_not_allowed`.
   * @default []
   */
  allowedOrigins?: readonly string[];
  /**
   * Host names this proxy may be addressed by (the `Host` header), against DNS rebinding: exact names
   * (`"proxy.example.com"`) and `".example.com"` for a domain and all its subdomains. IP literals, `localhost`,
   * `*.localhost` and the hosts of `allowedOrigins` always pass; `true` turns the check off. Without this option
   * the check applies when there is no `authorize` hook; given, it applies always. Refusals answer
   * `403 host_not_allowed`. @default undefined
   */
  allowedHosts?: true | readonly string[];
  /** CORS details for `allowedOrigins`. @default { credentials: true, maxAge: 600, allowHeaders: [] } */
  cors?: CorsOptions;
  /**
   * App id patterns the proxy may call (`fal-ai/flux/*`, `fal-ai/fast-sdxl`, `workflows/me/*`).
   * Applied to every method and host. Omit to allow every app on the allowed target hosts.
   */
  allowedEndpoints?: readonly string[];
  /** Hosts and paths `x-fal-target-url` may point at. @default DEFAULT_TARGETS */
  allowedTargets?: readonly TargetRule[];
  /** Origins (`https://hooks.example.com`) accepted in the `fal_webhook` query parameter. @default [] */
  webhookOrigins?: readonly string[];
  /**
   * Request headers forwarded to fal besides `content-type`, `accept`, `content-length`, `user-agent`: names or
   * `prefix-*` families; CORS preflights allow the same. Headers the request's `Connection` names never pass.
   * @default DEFAULT_FORWARD_HEADERS (`["x-fal-*"]`)
   */
  forwardHeaders?: readonly string[];
  /** Largest request body in bytes; larger bodies answer 413. @default 33_554_432 (32 MiB) */
  maxBodySize?: number;
  /** Upstream timeouts. */
  timeouts?: TimeoutOptions;
  /**
   * Where the proxy is mounted. The realtime tunnel listens below it (`{path}/{owner}/{app}/realtime`) and the
   * standalone server serves it; framework adapters are mounted by the framework. @default "/api/fal/proxy"
   */
  path?: string;
  /**
   * Trust `x-forwarded-proto` / `x-forwarded-host` (request URL, same-origin check) and `x-forwarded-for` (client
   * address). Only behind a reverse proxy you control. @default false
   */
  trustProxy?: boolean;
  /** The transport of Web bindings (Workers, Next Edge, Hono, `falgate.fetch`). @default globalThis.fetch */
  fetch?: FetchLike;
  /**
   * Send traffic for fal hosts to another origin (a local mock, staging). Policy still applies to
   * the URL the client asked for. A string origin keeps path and query and sends the original host
   * in `x-falgate-upstream-host`; a function maps each validated target URL.
   */
  upstream?: string | ((target: URL) => URL | string);
  /** Where falgate logs (never secrets). @default console-backed warn/error logger */
  logger?: Logger;
  /** Called before forwarding; may throw a `FalgateError` (e.g. `rate_limited`) to refuse. */
  onRequest?: (info: RequestInfo<C>) => void | Promise<void>;
  /** Called once per request when the answer is complete. Errors thrown here are logged, never sent. */
  onResponse?: (info: ResponseInfo<C>) => void | Promise<void>;
  /** Subscribers to falgate's events (metrics, traces, access logs). More can be added with `falgate.observe()`. @default [] */
  observers?: readonly FalgateObserver[];
  /**
   * Shared state: single-use token ids, tunnel slots (and limits, webhook replay ids). Use one store shared by every
   * instance (Redis, a Durable Object) when you run several. @default createMemoryStore()
   */
  store?: Store;
  /**
   * How much each principal may spend: rate limits, concurrency caps, budgets (docs/limits.md), counted in `store`.
   * Nothing is limited by default. @default undefined
   */
  limits?: LimitsOptions;
  /** The fal token interception (realtime / client-mode streams). */
  falTokens?: FalTokenOptions;
  /**
   * falgate's own short-lived tokens: they open the realtime tunnel and are minted by the token route
   * (`type: "falgate"`). Off unless a key is configured here or in `env.FALGATE_TOKEN_SECRET`.
   */
  tokens?: TokenOptions;
  /** The realtime WebSocket tunnel, served by the Node (`attachTunnel`) and Workers (`handleTunnel`) bindings. */
  tunnel?: TunnelOptions;
}

/** Per-request runtime context (Workers' `ExecutionContext` fits): keeps hook work alive after the response. */
export interface FalgateContext {
  waitUntil?(promise: Promise<unknown>): void;
}

/** What a binding knows about the platform a request arrived on. */
export interface Platform<C extends object = object> {
  /**
   * The platform's env (`process.env`, Worker bindings, `c.env`; any object, e.g. a `wrangler types` `Env`
   * interface); `options.env` is layered over it.
   */
  env?: object;
  /** Keeps work after the response alive (Workers' `ctx.waitUntil`). */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** The framework's own objects, handed to hooks. */
  context: C;
  /** The client's address as the socket saw it (`x-forwarded-for` is applied by the core when `trustProxy` is on). */
  ip?: string | null;
}
