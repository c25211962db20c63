import { DEFAULTS } from "@falgate/core";
import type { Handle } from "@sveltejs/kit";

const FORM_TYPES = new Set(["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]);
const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * SvelteKit's own CSRF check, for every route except falgate's mount. SvelteKit refuses cross-site form-typed bodies
 * before any hook runs and only app-wide, which would also refuse the proxy's non-browser callers (no `Origin`) and
 * `allowedOrigins` pages; falgate checks origins on its mount itself. Turn the built-in check off in
 * `svelte.config.js` (`kit.csrf.trustedOrigins: ["*"]`) and put this first in your `handle`.
 * @example
 * // src/hooks.server.ts
 * export const handle = sequence(csrfExceptFalgate(), yourHandle);
 */
export function csrfExceptFalgate(mounts: readonly string[] = [DEFAULTS.path]): Handle {
  const paths = mounts.map((path) => path.replace(/\/+$/, ""));
  const proxied = (pathname: string) =>
    paths.some((path) => pathname === path || pathname.startsWith(`${path}/`));
  return ({ event, resolve }) => {
    const { request, url } = event;
    if (UNSAFE_METHODS.has(request.method) && !proxied(url.pathname)) {
      const type = request.headers.get("content-type")?.split(";", 1)[0]?.trim().toLowerCase() ?? "";
      if (FORM_TYPES.has(type) && request.headers.get("origin") !== url.origin) {
        return new Response(`Cross-site ${request.method} form submissions are forbidden`, {
          status: 403,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
    }
    return resolve(event);
  };
}
