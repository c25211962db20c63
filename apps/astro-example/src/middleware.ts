import { defineMiddleware, sequence } from "astro:middleware";
import { checkOriginExceptFalgate } from "@falgate/astro";

// Astro's `security.checkOrigin`, as astro.config.mjs turned the built-in one off, for every route but the proxy
// (falgate refuses cross-site origins there itself, and non-browser callers have no Origin to send).
const session = defineMiddleware((context, next) => {
  // Your session lookup goes here (a cookie, a JWT); falgate's `authorize` can then read `context.locals.user`.
  context.locals.user = null;
  return next();
});

export const onRequest = sequence(checkOriginExceptFalgate(), session);
