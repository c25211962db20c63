import { FalgateError, isFalgateError } from "../errors.js";
import type { TunnelRecord } from "../events/types.js";
import type { Settings } from "../options/resolve.js";
import { classifyTarget, type FalTarget } from "../policy/index.js";
import { readsAsWebhook } from "../policy/webhook.js";
import { checkHost } from "../proxy/hosts.js";
import { resolveKey } from "../proxy/key.js";
import { errorResponse } from "../proxy/reply.js";
import { normaliseAppId } from "../tokens/apps.js";
import type { FalgateTokenClaims, TokenIssuer } from "../tokens/jwt.js";
import type { FalgateEnv, Logger, Principal } from "../types.js";
import { refusalFor, type TunnelRefusal } from "./close.js";
import type { TunnelLimits } from "./options.js";
import type { RelayEndInfo } from "./relay.js";

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
  /** Accept and relay to `upstream`. */
  | {
      action: "connect";
      principal: Principal;
      claims: FalgateTokenClaims;
      /** `owner/app[/path]` as opened. */
      app: string;
      upstream: UpstreamTarget;
      /** Call when both sides are open (runs the `onOpen` hook, emits `tunnel.open`). */
      opened(): void;
      /** Call once when the relay is over (frees the slot, runs `onEnd`, emits `tunnel.end`). */
      ended(end: RelayEndInfo): void;
      /** Frees the slot of a tunnel that never got to relay (the client left during the upgrade); idempotent. */
      release(): void;
    };

/** The portable tunnel policy: decides every upgrade; bindings only move bytes. */
export interface TunnelGate {
  readonly limits: TunnelLimits;
  /** falgate's logger, for the bindings (never given secrets). */
  readonly logger: Logger;
  /** True when `pathname` is below the tunnel mount (a cheap check before any async work). */
  matches(pathname: string): boolean;
  /**
   * Decides one upgrade request; `env` is the platform's env (`options.env` is layered over it). `rawTarget` is the
   * request target as received (`/path?query`), for bindings that see it before URL parsing normalised it (Node's
   * `req.url`); without it `request.url` is checked. Never throws.
   */
  decide(request: Request, env?: object, rawTarget?: string): Promise<TunnelDecision>;
}

/** Builds the tunnel policy of an instance from its resolved settings. */
export function createTunnelGate<C extends object>(settings: Settings<C>): TunnelGate {
  const limits = settings.tunnel;
  const prefix = `${limits.path}/`;

  const gate: TunnelGate = {
    limits,
    logger: settings.logger,
    matches: (pathname) => pathname.startsWith(prefix),
    async decide(request, platformEnv, rawTarget) {
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        return { action: "pass" };
      }
      if (!gate.matches(url.pathname)) return { action: "pass" };
      const env = settings.env(platformEnv);
      let stage: "before" | "after" = "before";
      try {
        checkUpgrade(request);
        checkTunnelOrigin(request, url, settings);
        checkCanonicalPath(rawTarget ?? request.url, url);
        const app = appFromPath(url.pathname.slice(prefix.length));
        const query = upstreamQuery(url.searchParams);
        const issuer = issuerOrThrow(settings.tokenIssuer, env);
        // From here on the browser would not see an HTTP refusal: answer in-band (docs/realtime.md).
        stage = "after";
        // Verified now, spent just before the limits (below): nothing that can refuse a good upgrade spends it.
        const claims = await verifyTunnelToken(issuer, url.searchParams, app);
        const target = new URL(`https://fal.run/${app}${query}`);
        const fal = classifyTarget(target);
        if (!settings.endpoints.allows(fal, claims.endpoints)) {
          throw new FalgateError("endpoint_not_allowed", `Endpoint ${app} is not allowed for this proxy.`);
        }
        const principal: Principal = {
          id: claims.sub,
          ...(claims.endpoints === undefined ? {} : { endpoints: claims.endpoints }),
        };
        const key = await resolveKey(() => request, env, principal, settings);
        const upstream = upstreamTarget(target, key, settings);
        // Spent before the limits are touched, so a replayed (already spent) token is refused without taking a
        // rate unit or a slot of its victim; a token the cap or the limits then refuse is spent too
        // (docs/realtime.md#single-use). Nothing after taking the slots may throw.
        await issuer.spend(claims);
        const release = await acquireSlots(settings, principal.id, fal);
        const record: TunnelRecord = {
          principal: principal.id,
          app,
          appId: fal.appId,
          startedAt: Date.now(),
        };
        const info = { principal, app };
        let ended = false;
        return {
          action: "connect",
          principal,
          claims,
          app,
          upstream,
          release,
          opened() {
            hook(settings.logger, () => limits.onOpen?.(info));
            if (settings.events.active) settings.events.emit({ type: "tunnel.open", tunnel: record });
          },
          ended(end) {
            if (ended) return;
            ended = true;
            release();
            hook(settings.logger, () => limits.onEnd?.({ ...info, ...end }));
            if (settings.events.active) settings.events.emit({ type: "tunnel.end", tunnel: record, end });
          },
        };
      } catch (error) {
        const err = isFalgateError(error)
          ? error
          : new FalgateError("internal_error", "Internal proxy error.");
        if (!isFalgateError(error)) {
          settings.logger.error("unexpected error in the tunnel gate", {
            error: error instanceof Error ? error.name : typeof error,
          });
        }
        if (settings.events.active) {
          const app = normaliseAppId(url.pathname.slice(prefix.length));
          const appId = app === null ? null : classifyTarget(new URL(`https://fal.run/${app}`)).appId;
          settings.events.emit({ type: "tunnel.refused", code: err.code, appId });
        }
        if (stage === "before") return { action: "reject", response: errorResponse(err), error: err };
        return { action: "refuse", refusal: refusalFor(err) };
      }
    },
  };
  return gate;
}

function hook(logger: Logger, run: () => void): void {
  try {
    run();
  } catch (error) {
    logger.error("tunnel hook failed", { error: error instanceof Error ? error.message : String(error) });
  }
}

/** A `Sec-WebSocket-Key`: 16 bytes in base64 (RFC 6455 §4.2.1). */
const WS_KEY = /^[+/0-9A-Za-z]{21}[AQgw]==$/;
/** One `Sec-WebSocket-Protocol` entry: an RFC 9110 token. */
const WS_PROTOCOL = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Refuses anything but a complete WebSocket handshake (RFC 6455 §4.2.1): `GET`, `Upgrade: websocket`, a valid
 * `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`, a well-formed `Sec-WebSocket-Protocol` if any. Checked before
 * the token, so a handshake the binding's WebSocket library would then refuse never spends a token.
 */
function checkUpgrade(request: Request): void {
  const upgrade = request.headers.get("upgrade");
  if (request.method !== "GET" || upgrade === null || upgrade.toLowerCase() !== "websocket") {
    throw upgradeOnly();
  }
  const key = request.headers.get("sec-websocket-key");
  if (key === null || !WS_KEY.test(key)) throw badHandshake("a `Sec-WebSocket-Key` of 16 bytes in base64");
  if (request.headers.get("sec-websocket-version") !== "13")
    throw badHandshake("`Sec-WebSocket-Version: 13`");
  const protocols = request.headers.get("sec-websocket-protocol");
  if (protocols !== null) {
    const names = protocols.split(",").map((name) => name.trim());
    if (!names.every((name) => WS_PROTOCOL.test(name)) || new Set(names).size !== names.length) {
      throw badHandshake("a well-formed `Sec-WebSocket-Protocol` (distinct tokens), or none");
    }
  }
}

function badHandshake(needs: string): FalgateError {
  return new FalgateError("invalid_handshake", `Not a valid WebSocket handshake: it needs ${needs}.`);
}

/**
 * Refuses a request target that URL parsing would change (`..` or `.` segments, `%2e`, `\`, characters it
 * escapes): the path checked must be the path the client wrote, as for `x-fal-target-url` (policy/target.ts).
 */
function checkCanonicalPath(raw: string, url: URL): void {
  let start = 0;
  if (!raw.startsWith("/")) {
    // An absolute URL (`request.url`): its path starts after the authority.
    const scheme = raw.indexOf("://");
    start = scheme === -1 ? raw.length : raw.indexOf("/", scheme + 3);
    if (start === -1) start = raw.length;
  }
  let end = raw.length;
  for (const stop of ["?", "#"]) {
    const at = raw.indexOf(stop, start);
    if (at !== -1 && at < end) end = at;
  }
  if (raw.slice(start, end) !== url.pathname) {
    throw new FalgateError(
      "not_found",
      "Not a realtime URL: the path must be canonical (no `.` or `..` segments, no encoded dots, no backslashes).",
    );
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
 * Unless `Origin` is in `allowedOrigins`, the host must pass the host check first (DNS rebinding), as on HTTP.
 */
export function checkTunnelOrigin(
  request: Request,
  url: URL,
  settings: Pick<Settings, "allowedOrigins" | "hosts" | "trustProxy">,
): void {
  const origin = request.headers.get("origin");
  if (origin !== null && settings.allowedOrigins.has(origin)) return;
  if (settings.hosts != null) {
    checkHost(
      settings.hosts,
      { header: (name) => request.headers.get(name), url: url.href },
      settings.trustProxy,
    );
  }
  if (origin === null) return;
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

/**
 * The query to send to fal: the client's, minus the token; `max_buffering` must be 1..60 as in the official client,
 * and no name may read as `fal_webhook` in any spelling (realtime has no webhooks; the names are re-serialised
 * below, so `fal%5Fwebhook` would reach fal as `fal_webhook`).
 */
function upstreamQuery(params: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const [name, value] of params) {
    if (name === TOKEN_PARAM) continue;
    if (readsAsWebhook(name)) {
      throw new FalgateError(
        "invalid_target",
        "Realtime connections take no `fal_webhook` (in any spelling).",
      );
    }
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
  return issuer.verify(tokens[0], { app, consume: false });
}

/**
 * Admits the tunnel with the limits (a tunnel counts as in-flight work while open) and takes its per-principal
 * tunnel slot; resolves the function that frees both.
 */
async function acquireSlots<C extends object>(
  settings: Settings<C>,
  principal: string,
  target: FalTarget,
): Promise<() => void> {
  const { limiter } = settings;
  const admission = limiter ? await limiter.admit({ principal, kind: "tunnel", target }) : null;
  let releaseSlot: () => void;
  try {
    releaseSlot = await acquireSlot(settings, principal);
  } catch (error) {
    if (limiter && admission) void limiter.settle(admission.reservation, { status: 0, header: () => null });
    throw error;
  }
  if (!limiter || !admission) return releaseSlot;
  return () => {
    releaseSlot();
    void limiter.settle(admission.reservation, { status: 101, header: () => null });
  };
}

/** Takes a tunnel slot for `principal` in the instance's store; resolves the function that frees it. */
async function acquireSlot<C extends object>(settings: Settings<C>, principal: string): Promise<() => void> {
  const { maxPerPrincipal, maxSessionDuration } = settings.tunnel;
  if (maxPerPrincipal === 0) return () => {};
  const key = `tunnel:${principal}`;
  const id = crypto.randomUUID();
  // A slot outlives the longest session a little, so a lost release (a crashed instance) heals by itself.
  const ttl = (maxSessionDuration || 86_400_000) + 60_000;
  let taken: boolean;
  try {
    taken = await settings.store.acquire(key, id, maxPerPrincipal, ttl);
  } catch (error) {
    if (isFalgateError(error)) throw error;
    throw new FalgateError("internal_error", "The tunnel slot store failed.", { cause: error });
  }
  if (!taken) {
    throw new FalgateError("rate_limited", `At most ${maxPerPrincipal} realtime connections per user.`);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    settings.store.release(key, id).catch((error: unknown) =>
      settings.logger.warn("could not free a tunnel slot (it expires by itself)", {
        error: error instanceof Error ? error.message : String(error),
      }),
    );
  };
}

function upstreamTarget(target: URL, key: string, settings: Pick<Settings, "upstream">): UpstreamTarget {
  const headers: Record<string, string> = { authorization: `Key ${key}` };
  let fetchUrl = target.href;
  if (settings.upstream) {
    const mapped = settings.upstream(target);
    fetchUrl = mapped.origin + mapped.path;
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
