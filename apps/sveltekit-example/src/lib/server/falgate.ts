import { createFalgate } from "@falgate/sveltekit";
import { env } from "$env/dynamic/private";

/**
 * The app's falgate instance. FAL_KEY is read by falgate from the environment on each request; nothing here is
 * secret. With `@sveltejs/adapter-node`, `$env/dynamic/private` is `process.env`.
 */
export const falgate = createFalgate({
  // Only these fal apps can be called through this proxy.
  allowedEndpoints: ["fal-ai/*"],
  // Other origins of yours whose pages call this proxy (comma-separated); same-origin pages need nothing.
  allowedOrigins: list(env.FALGATE_ALLOWED_ORIGINS),
  // Development: send fal traffic to a local mock (`falgate-mock`) instead of fal.ai.
  upstream: env.FALGATE_UPSTREAM || undefined,
  // No `authorize` hook: only same-origin pages (and `allowedOrigins`) may call. In a real app, return the
  // signed-in user that src/hooks.server.ts put on `locals`:
  //   authorize: (request, { event }) => event.locals.user,
});

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}
