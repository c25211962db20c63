/**
 * The proxy's options, shared by the route (src/lib/falgate.ts) and the realtime tunnel of the custom server
 * (server.mjs), so both apply the same policy. FAL_KEY and FALGATE_TOKEN_SECRET are read by falgate from the
 * environment on each request; nothing here is secret.
 * @param {Record<string, string | undefined>} env
 * @returns {import("@falgate/astro").FalgateOptions}
 */
export function falgateOptions(env) {
  return {
    // Only these fal apps can be called through this proxy. fal tokens (scoped by app name, for every
    // owner) are only minted for apps named exactly, like fast-sdxl here; `fal-ai/*` alone allows none.
    allowedEndpoints: ["fal-ai/*", "fal-ai/fast-sdxl"],
    // Other origins of yours whose pages call this proxy (comma-separated); same-origin pages need nothing.
    allowedOrigins: (env.FALGATE_ALLOWED_ORIGINS ?? "")
      .split(",")
      .map((origin) => origin.trim())
      .filter(Boolean),
    // Development: send fal traffic to a local mock (`falgate-mock`) instead of fal.ai.
    upstream: env.FALGATE_UPSTREAM || undefined,
  };
}
