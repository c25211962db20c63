/** The mount the official client and falgate's adapters use by default. */
export const DEFAULT_PROXY_URL = "/api/fal/proxy";

/** The query parameter the tunnel reads its token from (same as fal's). */
export const TOKEN_PARAM = "fal_jwt_token";

/**
 * Resolves `proxyUrl` against `base` (default: the page's `location.href`) to an absolute http(s) URL
 * without a trailing slash. Outside a browser a relative `proxyUrl` needs `base`.
 */
export function resolveProxyUrl(proxyUrl: string, base?: string): URL {
  const origin = base ?? pageHref();
  let url: URL;
  try {
    url = origin === undefined ? new URL(proxyUrl) : new URL(proxyUrl, origin);
  } catch {
    throw new TypeError(
      `falgate: \`proxyUrl\` ${JSON.stringify(proxyUrl)} is not a URL; outside a browser pass an absolute URL or \`baseUrl\`.`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`falgate: \`proxyUrl\` must be an http(s) URL, got ${url.protocol}`);
  }
  url.pathname = url.pathname.replace(/\/+$/, "");
  url.search = "";
  url.hash = "";
  return url;
}

function pageHref(): string | undefined {
  const location = (globalThis as { location?: { href?: unknown } }).location;
  return typeof location?.href === "string" ? location.href : undefined;
}

/**
 * The realtime app id as the official client computes it: `owner/app` plus `/{path}` (default `/realtime`,
 * unless the id already ends with it). This is also what `tokenProvider(app)` receives.
 */
export function realtimeAppPath(app: string, path?: string): string {
  const id = app.replace(/^\/+|\/+$/g, "");
  if (id.split("/").length < 2 || id.split("/").some((segment) => segment === "")) {
    throw new TypeError(`falgate: invalid app id ${JSON.stringify(app)}; expected "owner/app"`);
  }
  if (path) return `${id}/${path.replace(/^\/+/, "")}`;
  return id.endsWith("/realtime") ? id : `${id}/realtime`;
}

/**
 * The tunnel URL for `appPath`: `wss://fal.run/{appPath}?...` with `wss://fal.run` replaced by the proxy
 * mount (`ws:` for `http:` pages, `wss:` for `https:`), the token in `fal_jwt_token`.
 * @example
 * tunnelUrl(new URL("https://app.example/api/fal/proxy"), "fal-ai/fast-lcm-diffusion/realtime", token, 5)
 * // wss://app.example/api/fal/proxy/fal-ai/fast-lcm-diffusion/realtime?max_buffering=5&fal_jwt_token=...
 */
export function tunnelUrl(proxy: URL, appPath: string, token: string, maxBuffering?: number): string {
  const url = new URL(proxy.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${appPath}`;
  const query = new URLSearchParams();
  if (maxBuffering !== undefined) query.set("max_buffering", maxBuffering.toFixed(0));
  query.set(TOKEN_PARAM, token);
  url.search = query.toString();
  return url.href;
}
