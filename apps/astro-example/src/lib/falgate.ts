import { createFalgate } from "@falgate/astro";

/**
 * The app's falgate instance. FAL_KEY is read by falgate from `process.env` on each request; nothing here is secret.
 * These settings are read when the server starts (`process.env`: the standalone server's runtime environment, not
 * `import.meta.env`, which Vite fills in at build time).
 */
export const falgate = createFalgate({
  // Only these fal apps can be called through this proxy.
  allowedEndpoints: ["fal-ai/*"],
  // Other origins of yours whose pages call this proxy (comma-separated); same-origin pages need nothing.
  allowedOrigins: list(process.env.FALGATE_ALLOWED_ORIGINS),
  // Development: send fal traffic to a local mock (`falgate-mock`) instead of fal.ai.
  upstream: process.env.FALGATE_UPSTREAM || undefined,
  // No `authorize` hook: only same-origin pages (and `allowedOrigins`) may call. In a real app, return the
  // signed-in user that src/middleware.ts put on `locals`:
  //   authorize: (request, { context }) => context.locals.user,
});

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}
