import type { FalgateOptions } from "@falgate/next";

/**
 * The proxy's options, shared by the App Router routes and the Pages Router route. FAL_KEY is read from the
 * environment on each request; nothing here is secret.
 */
export const falgateOptions: FalgateOptions = {
  // Only these fal apps can be called through this proxy. fal tokens (scoped by app name, for every
  // owner) are only minted for apps named exactly, like fast-sdxl here; `fal-ai/*` alone allows none.
  allowedEndpoints: ["fal-ai/*", "fal-ai/fast-sdxl"],
  // Other origins of yours whose pages call this proxy (comma-separated); same-origin pages need nothing.
  allowedOrigins: list(process.env.FALGATE_ALLOWED_ORIGINS),
  // With no `authorize` hook the proxy answers only on localhost, IPs and the names listed here (DNS rebinding,
  // docs/security.md): deployed on a domain, name it (e.g. FALGATE_ALLOWED_HOSTS=app.example.com).
  allowedHosts: list(process.env.FALGATE_ALLOWED_HOSTS),
  // Development: send fal traffic to a local mock (`falgate-mock`) instead of fal.ai.
  upstream: process.env.FALGATE_UPSTREAM || undefined,
};

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}
