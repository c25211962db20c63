import { FalgateRealtimeError } from "./errors.js";
import { DEFAULT_PROXY_URL, resolveProxyUrl } from "./url.js";

/** The shape `fal.realtime.connect` and `fal.stream(..., { connectionMode: "client" })` expect. */
export type TokenProvider = (app: string) => Promise<string>;

/** A fetch-compatible function (the page's `fetch`, or a wrapper adding headers). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Options of {@link createTokenProvider}. */
export interface TokenProviderOptions {
  /** The falgate mount; the token route is `{proxyUrl}/token`. @default "/api/fal/proxy" */
  proxyUrl?: string;
  /**
   * `"fal"`: a fal token for direct `wss://fal.run` connections (`fal.realtime.connect`, client-mode
   * streams). `"falgate"`: a falgate token for the tunnel (what `connectRealtime` uses).
   * @default "fal"
   */
  type?: "fal" | "falgate";
  /** Base for a relative `proxyUrl` (needed outside a browser). @default location.href */
  baseUrl?: string;
  /** Cookies with the token request (your session is how `authorize` knows the user). @default "same-origin" */
  credentials?: RequestCredentials;
  /** Extra headers, e.g. `{ authorization: "Bearer <session>" }` when your `authorize` hook reads one. */
  headers?: Record<string, string>;
  /** The transport. @default globalThis.fetch */
  fetch?: FetchLike;
}

/**
 * Creates a `tokenProvider(app)` that asks falgate's token route for a short-lived token scoped to `app`.
 * The route answers the JWT as a JSON string, like fal's own token endpoint.
 * @throws FalgateRealtimeError (`kind: "token"`) with falgate's error code when the route refuses
 * @example
 * fal.realtime.connect("fal-ai/fast-lcm-diffusion", { tokenProvider: createTokenProvider(), onResult });
 */
export function createTokenProvider(options: TokenProviderOptions = {}): TokenProvider {
  const type = options.type ?? "fal";
  if (type !== "fal" && type !== "falgate") throw new TypeError('falgate: `type` must be "fal" or "falgate"');
  const proxyUrl = options.proxyUrl ?? DEFAULT_PROXY_URL;
  // Resolve once up front so a bad proxyUrl throws at creation, then again per call (the page may navigate).
  resolveProxyUrl(proxyUrl, options.baseUrl);
  return async (app) => {
    const url = `${resolveProxyUrl(proxyUrl, options.baseUrl).href}/token`;
    const doFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    let response: Response;
    try {
      response = await doFetch(url, {
        method: "POST",
        credentials: options.credentials ?? "same-origin",
        headers: { ...options.headers, "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ app, type }),
      });
    } catch (error) {
      throw new FalgateRealtimeError("token", "network_error", "Could not reach the token route.", {
        cause: error,
      });
    }
    const body = await readJson(response);
    if (!response.ok) throw tokenRefused(response.status, body);
    const token = typeof body === "string" ? body : detail(body);
    if (token === undefined || token === "") {
      throw new FalgateRealtimeError("token", "invalid_response", "The token route did not answer a token.", {
        status: response.status,
        body,
      });
    }
    return token;
  };
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => "");
  try {
    return JSON.parse(text);
  } catch {
    return text === "" ? undefined : text;
  }
}

// Older proxies wrapped the token as `{ "detail": "<jwt>" }`; the official client still accepts it.
function detail(body: unknown): string | undefined {
  if (
    body !== null &&
    typeof body === "object" &&
    typeof (body as { detail?: unknown }).detail === "string"
  ) {
    return (body as { detail: string }).detail;
  }
  return undefined;
}

/** Turns a falgate error answer (`{ error: { code, message } }`) into a readable error. */
function tokenRefused(status: number, body: unknown): FalgateRealtimeError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null | undefined)?.error;
  const code = typeof error?.code === "string" ? error.code : `http_${status}`;
  const message =
    typeof error?.message === "string"
      ? error.message
      : typeof body === "string" && body.length < 200
        ? body
        : `The token route answered HTTP ${status}.`;
  return new FalgateRealtimeError("token", code, message, { status, body });
}
