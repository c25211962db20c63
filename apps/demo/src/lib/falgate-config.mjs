// The one falgate instance of the demo, shared by the Next.js route (HTTP proxy and token route) and
// server.mjs (the realtime tunnel), so both apply the same policy and share one store.
import { createFalgate, FalgateError } from "@falgate/core";

/** The sign-in stub's cookie: its value is the user id (a real app would verify a session here). */
export const SESSION_COOKIE = "falgate_demo_user";

/** The fal apps the page uses. */
export const DEMO_APPS = {
  queue: "fal-ai/flux/schnell",
  stream: "fal-ai/flux/dev",
  imageToImage: "fal-ai/fast-sdxl/image-to-image",
  realtime: "fal-ai/fast-lcm-diffusion",
};

/**
 * Reads one cookie from a Cookie header.
 * @param {string | null} header
 * @param {string} name
 * @returns {string | null}
 */
export function readCookie(header, name) {
  if (!header) return null;
  for (const part of header.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) {
      const value = decodeURIComponent(rest.join("="));
      return /^[A-Za-z0-9 _.-]{1,40}$/.test(value) ? value : null;
    }
  }
  return null;
}

/**
 * falgate's options for the demo. Read at request time from `env`: `FALGATE_DEMO_UPSTREAM` (the mock's
 * URL, set by server.mjs in mock mode), `FAL_KEY` and `FALGATE_TOKEN_SECRET` (read by falgate itself).
 * @param {Record<string, string | undefined>} [env]
 */
export function falgateOptions(env = process.env) {
  return {
    /** @param {Request} request */
    authorize(request) {
      const user = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
      if (user === null) {
        throw new FalgateError(
          "unauthenticated",
          "You are signed out, so falgate refuses to call fal for you. Sign in (top right) and try again.",
        );
      }
      return { id: user };
    },
    // Only the apps the page needs: anything else is refused with `endpoint_not_allowed`.
    allowedEndpoints: Object.values(DEMO_APPS),
    upstream: env.FALGATE_DEMO_UPSTREAM || undefined,
    // falgate's own tokens for the realtime tunnel; the secret comes from FALGATE_TOKEN_SECRET.
    tokens: {},
  };
}

const INSTANCE = Symbol.for("falgate.demo.instance");

/**
 * The demo's falgate instance. server.mjs creates it when it starts (after it chose the upstream); the Next route,
 * bundled separately by Next, finds the same object here.
 * @param {Record<string, string | undefined>} [env]
 * @param {{ fresh?: boolean }} [options]
 */
export function demoFalgate(env = process.env, options = {}) {
  const global = /** @type {Record<symbol, ReturnType<typeof createFalgate> | undefined>} */ (globalThis);
  if (options.fresh || !global[INSTANCE]) global[INSTANCE] = createFalgate(falgateOptions(env));
  return global[INSTANCE];
}
