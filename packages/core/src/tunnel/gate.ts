import { type ResolvedConfig, resolveConfig } from "../config.js";
import { resolveKey } from "../credentials.js";
import { errorResponse, FalgateError, isFalgateError } from "../errors.js";
import { classifyTarget } from "../policy/index.js";
import { normaliseAppId } from "../tokens/apps.js";
import type { FalgateTokenClaims, TokenIssuer, TokenOptions } from "../tokens/jwt.js";
import type { FalgateEnv, FalgateOptions, Logger, Principal } from "../types.js";
import { refusalFor, type TunnelRefusal } from "./close.js";
import { resolveTunnelOptions, type TunnelLimits, type TunnelOptions } from "./options.js";

/** The options the tunnel reads: falgate's own, plus `tokens` and `tunnel`. */
export interface RealtimeOptions extends FalgateOptions {
  /** falgate's own tokens (required for the tunnel). */
  tokens?: TokenOptions;
  /** The realtime tunnel. */
  tunnel?: TunnelOptions;
}

/** The query parameter the official client puts its token in. */
export const TOKEN_PARAM = "fal_jwt_token";

/** How to open the upstream side of an accepted tunnel. */
export interface UpstreamTarget {
  /** `wss://fal.run/{app}/realtime?...` (or the `upstream` override, in ws(s) form). Never holds a credential. */
  url: string;
  /** The same URL in http(s) form, for runtimes that upgrade through `fetch` (Workers). */
  fetchUrl: string;
  /** `Authorization: Key ...`, and `x-falgate-upstream-host` with a string `upstream` override. */
  headers: Record<string, string>;
}

/** What a binding does with an upgrade request; see docs/realtime.md for why each refusal is sent the way it is. */
export type TunnelDecision =
  /** Not a tunnel URL: leave the request alone (another upgrade handler may own it). */
  | { action: "pass" }
  /** Refuse before upgrading, with this HTTP answer (origin refused, malformed URL, tunnel disabled). */
  | { action: "reject"; response: Response; error: FalgateError }
  /** Accept the upgrade, send `refusal.frame` (text), then close with `refusal.code`/`refusal.reason`. */
  | { action: "refuse"; refusal: TunnelRefusal }
  /** Accept and relay to `upstream`; call `release()` exactly once when the tunnel is over. */
  | {
      action: "connect";
      principal: Principal;
      claims: FalgateTokenClaims;
      /** `owner/app[/path]` as opened. */
      app: string;
      upstream: UpstreamTarget;
      release: () => void;
    };

/** The portable tunnel policy: decides every upgrade; bindings only move bytes. */
export interface TunnelGate {
  readonly limits: TunnelLimits;
  /** falgate's logger, for the bindings (never given secrets). */
  readonly logger: Logger;
  /** True when `pathname` is below the tunnel mount (a cheap check before any async work). */
  matches(pathname: string): boolean;
  /** Decides one upgrade request. Never throws. */
  decide(request: Request, env?: FalgateEnv): Promise<TunnelDecision>;
}

/**
 * Builds the tunnel policy from falgate's options (validated once; bad options throw a `TypeError`).
 * @example
 * const gate = createTunnelGate({ tokens: { secret }, allowedEndpoints: ["fal-ai/fast-lcm-diffusion"] });
 * const decision = await gate.decide(upgradeRequest, env);
 */
export function createTunnelGate(options: RealtimeOptions = {}): TunnelGate {
  const config = resolveConfig(options);
  const limits = resolveTunnelOptions(options.tunnel);
  const prefix = `${limits.path}/`;

  const gate: TunnelGate = {
    limits,
    logger: config.logger,
    matches: (pathname) => pathname.startsWith(prefix),
    async decide(request, env) {
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        return { action: "pass" };
      }
      if (!gate.matches(url.pathname)) return { action: "pass" };
      const runtimeEnv = env ?? config.env;
      let stage: "before" | "after" = "before";
      try {
        checkUpgrade(request);
        checkTunnelOrigin(request, url, config);
        const app = appFromPath(url.pathname.slice(prefix.length));
        const query = upstreamQuery(url.searchParams);
        const issuer = issuerOrThrow(config.tokenIssuer, runtimeEnv);
        // From here on the browser would not see an HTTP refusal: answer in-band (docs/realtime.md).
        stage = "after";
        const claims = await verifyTunnelToken(issuer, url.searchParams, app);
        const target = new URL(`https://fal.run/${app}${query}`);
        if (!config.endpoints.allows(classifyTarget(target), claims.endpoints)) {
          throw new FalgateError("endpoint_not_allowed", `Endpoint ${app} is not allowed for this proxy.`);
        }
        const principal: Principal = {
          id: claims.sub,
          ...(claims.endpoints === undefined ? {} : { endpoints: claims.endpoints }),
        };
        const key = await resolveKey(request, runtimeEnv, principal, config);
        const upstream = upstreamTarget(target, key, config);
        // Last: nothing after taking the slot may throw, or the slot would leak.
        const release = await acquireSlot(limits, principal.id);
        return { action: "connect", principal, claims, app, upstream, release };
      } catch (error) {
        const err = isFalgateError(error)
          ? error
          : new FalgateError("internal_error", "Internal proxy error.");
        if (!isFalgateError(error)) {
          config.logger.error("unexpected error in the tunnel gate", {
            error: error instanceof Error ? error.name : typeof error,
          });
        }
        if (stage === "before") return { action: "reject", response: errorResponse(err), error: err };
        return { action: "refuse", refusal: refusalFor(err) };
      }
    },
  };
  return gate;
}

function checkUpgrade(request: Request): void {
  const upgrade = request.headers.get("upgrade");
  if (request.method !== "GET" || upgrade === null || upgrade.toLowerCase() !== "websocket") {
    throw upgradeOnly();
  }
}

/** The 405 for anything but a `GET` WebSocket upgrade on the tunnel path (bindings answer it before a `Request` exists). */
export function upgradeOnly(): FalgateError {
  return new FalgateError("method_not_allowed", "The realtime tunnel only accepts WebSocket upgrades.", {
    headers: { allow: "GET" },
  });
}

/**
 * Refuses cross-site WebSocket hijacking: browsers send `Origin` on every WebSocket handshake and cookies
 * ride along, so a foreign page must not open a tunnel. Same host (any scheme, for TLS-terminating
 * proxies) or `allowedOrigins` pass; no `Origin` means a non-browser client, which still needs a token.
 */
export function checkTunnelOrigin(
  request: Request,
  url: URL,
  config: Pick<ResolvedConfig, "allowedOrigins">,
): void {
  const origin = request.headers.get("origin");
  if (origin === null) return;
  if (config.allowedOrigins.has(origin)) return;
  let originHost: string | null = null;
  try {
    const parsed = new URL(origin);
    if (parsed.protocol === "https:" || parsed.protocol === "http:") originHost = parsed.host;
  } catch {
    originHost = null;
  }
  // The Host header, not the parsed URL: a request target like `//evil.example/...` must not name the host.
  const host = request.headers.get("host") ?? url.host;
  if (originHost !== null && originHost === host) return;
  throw new FalgateError(
    "origin_not_allowed",
    "This origin may not open realtime connections. Add it to `allowedOrigins` to allow it.",
  );
}

function appFromPath(rest: string): string {
  // normaliseAppId refuses `%`, `.`/`..` segments and empty segments: no encoding can change which app is opened.
  const app = normaliseAppId(rest);
  if (app === null || app !== rest.replace(/\/+$/, "")) {
    throw new FalgateError(
      "not_found",
      "Not a realtime URL: expected {mount}/{owner}/{app}[/path]/realtime.",
    );
  }
  return app;
}

/** The query to send to fal: the client's, minus the token; `max_buffering` must be 1..60 as in the official client. */
function upstreamQuery(params: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const [name, value] of params) {
    if (name === TOKEN_PARAM) continue;
    if (name === "max_buffering" && !/^(?:[1-9]|[1-5][0-9]|60)$/.test(value)) {
      throw new FalgateError("invalid_target", "`max_buffering` must be an integer between 1 and 60.");
    }
    out.append(name, value);
  }
  const query = out.toString();
  return query === "" ? "" : `?${query}`;
}

function issuerOrThrow(issuerFor: (env: FalgateEnv) => TokenIssuer | null, env: FalgateEnv): TokenIssuer {
  let issuer: TokenIssuer | null;
  try {
    issuer = issuerFor(env);
  } catch (error) {
    throw new FalgateError("internal_error", "falgate token keys are misconfigured.", { cause: error });
  }
  if (issuer === null) {
    throw new FalgateError(
      "not_found",
      "The realtime tunnel is off: set `tokens.secret` (or FALGATE_TOKEN_SECRET) to enable it.",
    );
  }
  return issuer;
}

async function verifyTunnelToken(
  issuer: TokenIssuer,
  params: URLSearchParams,
  app: string,
): Promise<FalgateTokenClaims> {
  const tokens = params.getAll(TOKEN_PARAM);
  if (tokens.length !== 1 || !tokens[0]) {
    throw new FalgateError("invalid_token", `Pass one falgate token as \`${TOKEN_PARAM}\`.`);
  }
  return issuer.verify(tokens[0], { app });
}

async function acquireSlot(limits: TunnelLimits, principal: string): Promise<() => void> {
  if (limits.maxPerPrincipal === 0) return () => {};
  if (!(await limits.counter.acquire(principal, limits.maxPerPrincipal))) {
    throw new FalgateError(
      "rate_limited",
      `At most ${limits.maxPerPrincipal} realtime connections per user.`,
    );
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    Promise.resolve()
      .then(() => limits.counter.release(principal))
      .catch(() => {});
  };
}

function upstreamTarget(target: URL, key: string, config: ResolvedConfig): UpstreamTarget {
  const headers: Record<string, string> = { authorization: `Key ${key}` };
  let fetchUrl = target.href;
  if (config.upstream) {
    const mapped = config.upstream(target);
    fetchUrl = mapped.url;
    if (mapped.host) headers["x-falgate-upstream-host"] = mapped.host;
  }
  const parsed = new URL(fetchUrl);
  parsed.hash = "";
  if (parsed.protocol === "ws:" || parsed.protocol === "wss:") {
    const url = parsed.href;
    parsed.protocol = parsed.protocol === "ws:" ? "http:" : "https:";
    return { url, fetchUrl: parsed.href, headers };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new FalgateError("internal_error", "The `upstream` override must map to an http(s) or ws(s) URL.");
  }
  fetchUrl = parsed.href;
  parsed.protocol = parsed.protocol === "http:" ? "ws:" : "wss:";
  return { url: parsed.href, fetchUrl, headers };
}
