import { FalgateError } from "../errors.js";
import { clientKey, SHARED_CLIENT_KEY } from "../limits/client-key.js";
import type { Settings } from "../options/resolve.js";
import type { HookContext, Principal } from "../types.js";
import { checkHost } from "./hosts.js";
import type { CallInput } from "./input.js";

/** The principal given to every caller when `allowUnauthenticated` is on or the same-origin default admits them. */
export const ANONYMOUS: Principal = Object.freeze({ id: SHARED_CLIENT_KEY });

/** Where a request comes from, as far as the browser tells us. */
export interface OriginVerdict {
  /** The `Origin` header when it is an allowed cross-origin caller (CORS headers go back to it). */
  corsOrigin: string | null;
  /** True when the browser says the call is same-origin. */
  sameOrigin: boolean;
}

const SAME_ORIGIN: OriginVerdict = Object.freeze({ corsOrigin: null, sameOrigin: true });
const NOT_A_BROWSER: OriginVerdict = Object.freeze({ corsOrigin: null, sameOrigin: false });

/**
 * Refuses cross-site browser calls from origins not in `allowedOrigins` (CSRF and cross-site use of the
 * key). Requests without `Origin` and `Sec-Fetch-Site` (servers, curl) are not browser calls: they pass
 * here and face `authorize`. Unless the caller is an `allowedOrigins` page (whose `Origin` a rebound page cannot
 * claim), the host the request addressed must pass the host check (`settings.hosts`, DNS rebinding).
 */
export function checkOrigin(
  input: CallInput,
  settings: Pick<Settings, "allowedOrigins" | "hosts" | "trustProxy">,
): OriginVerdict {
  const verdict = originVerdict(input, settings.allowedOrigins);
  if (verdict.corsOrigin === null && settings.hosts !== null)
    checkHost(settings.hosts, input, settings.trustProxy);
  return verdict;
}

function originVerdict(input: CallInput, allowedOrigins: ReadonlySet<string>): OriginVerdict {
  const site = input.header("sec-fetch-site");
  // Sec-Fetch-Site is set by the browser and cannot be forged by page scripts; it also survives reverse
  // proxies that make the request URL differ from what the browser sees.
  if (site === "same-origin") return SAME_ORIGIN;
  const origin = input.header("origin");
  if (origin !== null) {
    if (origin === ownOrigin(input.url)) return SAME_ORIGIN;
    if (allowedOrigins.has(origin)) return { corsOrigin: origin, sameOrigin: false };
    throw new FalgateError(
      "origin_not_allowed",
      `Origin ${truncate(origin)} is not allowed to use this proxy. Add it to \`allowedOrigins\` to allow it.`,
    );
  }
  if (site === "cross-site" || site === "same-site") {
    throw new FalgateError(
      "origin_not_allowed",
      "Cross-site request without an Origin header refused. Add the calling origin to `allowedOrigins`.",
    );
  }
  return NOT_A_BROWSER;
}

/** Runs the `authorize` hook, or the same-origin default; returns the principal or throws 401/403. */
export async function authenticate<C extends object>(
  input: CallInput,
  ctx: HookContext<C>,
  settings: Pick<Settings<C>, "authorize" | "allowUnauthenticated">,
  verdict: OriginVerdict,
): Promise<Principal> {
  if (settings.authorize) {
    const principal = await settings.authorize(input.request, ctx);
    if (!principal) {
      throw new FalgateError(
        "unauthenticated",
        "Sign in to use this proxy: the `authorize` hook refused the request.",
      );
    }
    if (typeof principal.id !== "string" || principal.id === "") {
      throw new FalgateError("internal_error", "The `authorize` hook returned a principal without an id.");
    }
    return principal;
  }
  if (settings.allowUnauthenticated) return ANONYMOUS;
  if (verdict.sameOrigin || verdict.corsOrigin !== null) return ANONYMOUS;
  throw new FalgateError(
    "unauthenticated",
    "No `authorize` hook is configured, so only same-origin browser requests (or `allowedOrigins`) are accepted. " +
      "Configure `authorize`, or `allowUnauthenticated` for local development.",
  );
}

/** The origin of the URL this request was made to (what the browser calls "same origin"). */
function ownOrigin(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

function truncate(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, "?");
  return JSON.stringify(clean.length > 100 ? `${clean.slice(0, 100)}…` : clean);
}

/**
 * Who the limits count a call against: the principal's id, or for anonymous callers (the same-origin default,
 * `allowUnauthenticated`) their address grouped by `clientKey`. With `trustProxy` the address is the last
 * `x-forwarded-for` entry (the one your proxy saw; earlier ones are the client's claims), otherwise the socket's.
 * Without an address, every anonymous caller shares {@link SHARED_CLIENT_KEY}.
 */
export function limitKey(
  principal: Principal,
  input: CallInput,
  platform: { ip?: string | null },
  trustProxy: boolean,
): string {
  if (principal !== ANONYMOUS) return principal.id;
  let ip = platform.ip ?? null;
  if (trustProxy) {
    const last = input.header("x-forwarded-for")?.split(",").pop()?.trim();
    if (last) ip = last;
  }
  return ip ? clientKey(ip) : SHARED_CLIENT_KEY;
}
