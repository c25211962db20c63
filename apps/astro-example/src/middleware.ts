import { defineMiddleware } from "astro:middleware";

const PROXY = "/api/fal/proxy";
const FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];
const SAFE_METHODS = ["GET", "HEAD", "OPTIONS"];

export const onRequest = defineMiddleware((context, next) => {
  // Astro's `security.checkOrigin`, as astro.config.mjs turned it off, for every route but the proxy (falgate
  // refuses cross-site origins there itself, and non-browser callers have no Origin to send).
  const { request, url } = context;
  const proxied = url.pathname === PROXY || url.pathname.startsWith(`${PROXY}/`);
  if (!proxied && !context.isPrerendered && !SAFE_METHODS.includes(request.method)) {
    const type = request.headers.get("content-type");
    const formLike = type === null || FORM_TYPES.some((form) => type.toLowerCase().includes(form));
    if (formLike && request.headers.get("origin") !== url.origin) {
      return new Response(`Cross-site ${request.method} form submissions are forbidden`, { status: 403 });
    }
  }

  // Your session lookup goes here (a cookie, a JWT); falgate's `authorize` can then read `context.locals.user`.
  context.locals.user = null;
  return next();
});
