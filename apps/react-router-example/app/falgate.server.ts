import { createFalgate } from "@falgate/react-router";

/**
 * The app's falgate instance. FAL_KEY is read from the environment on each request; nothing here is secret.
 * `.server` keeps it out of the browser bundle.
 */
export const falgate = createFalgate({
  // Only these fal apps can be called through this proxy. fal tokens (scoped by app name, for every
  // owner) are only minted for apps named exactly, like fast-sdxl here; `fal-ai/*` alone allows none.
  allowedEndpoints: ["fal-ai/*", "fal-ai/fast-sdxl"],
  // Other origins of yours whose pages call this proxy (comma-separated); same-origin pages need nothing.
  allowedOrigins: list(process.env.FALGATE_ALLOWED_ORIGINS),
  // Development: send fal traffic to a local mock (`falgate-mock`) instead of fal.ai.
  upstream: process.env.FALGATE_UPSTREAM || undefined,
  // Tie calls to your users: `args` are the loader/action arguments (`args.context` is getLoadContext's value).
  // authorize: async (request, { args }) => { const user = await getUser(request); return user ? { id: user.id } : null; },
});

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}
