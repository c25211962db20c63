import { DEFAULTS } from "@falgate/core";
import type { MiddlewareHandler } from "astro";

const FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Astro's `security.checkOrigin`, for every route except falgate's mount. Astro refuses cross-site form-like bodies
 * app-wide, which would also refuse the proxy's non-browser callers (no `Origin`) and `allowedOrigins` pages; falgate
 * checks origins on its mount itself. Turn the built-in check off in `astro.config.mjs`
 * (`security: { checkOrigin: false }`) and put this first in your middleware.
 * @example
 * // src/middleware.ts
 * export const onRequest = sequence(checkOriginExceptFalgate(), yourMiddleware);
 */
export function checkOriginExceptFalgate(mounts: readonly string[] = [DEFAULTS.path]): MiddlewareHandler {
  const paths = mounts.map((path) => path.replace(/\/+$/, ""));
  const proxied = (pathname: string) =>
    paths.some((path) => pathname === path || pathname.startsWith(`${path}/`));
  return (context, next) => {
    const { request, url } = context;
    if (!context.isPrerendered && !SAFE_METHODS.has(request.method) && !proxied(url.pathname)) {
      const type = request.headers.get("content-type");
      const formLike = type === null || FORM_TYPES.some((form) => type.toLowerCase().includes(form));
      if (formLike && request.headers.get("origin") !== url.origin) {
        return new Response(`Cross-site ${request.method} form submissions are forbidden`, { status: 403 });
      }
    }
    return next();
  };
}
