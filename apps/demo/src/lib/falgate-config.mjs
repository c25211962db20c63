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
 * The demo's limits: small enough that a person hits each in a minute of clicking. Every call is counted per
 * signed-in user in the instance's store (in memory here); the page's meter reads them from `GET
 * /api/fal/proxy/usage` and the RateLimit headers. Env overrides, for the tests or to play:
 * `FALGATE_DEMO_RATE` (`"10/min"`), `FALGATE_DEMO_MAX_CONCURRENT` (`2`), `FALGATE_DEMO_BUDGET` (`"30/day"`, in fal
 * billable units: the mock bills one per image); `off` turns one off.
 * @param {Record<string, string | undefined>} env
 * @returns {import("@falgate/core").LimitsOptions}
 */
export function demoLimits(env) {
  const pick = (/** @type {string | undefined} */ value, /** @type {string} */ fallback) =>
    value === undefined || value === "" ? fallback : value;
  const rate = pick(env.FALGATE_DEMO_RATE, "10/min");
  const maxConcurrent = pick(env.FALGATE_DEMO_MAX_CONCURRENT, "2");
  const budget = pick(env.FALGATE_DEMO_BUDGET, "30/day");
  return {
    rate: rate === "off" ? false : /** @type {import("@falgate/core").RateLimit} */ (rate),
    maxConcurrent: maxConcurrent === "off" ? 0 : Number(maxConcurrent),
    budget: budget === "off" ? false : /** @type {import("@falgate/core").BudgetLimit} */ (budget),
    // An open realtime socket would hold one of the two slots for as long as the page stays open: the canvas
    // gets its own, uncapped pool (its opens are still rate limited, in their own window).
    endpoints: { [DEMO_APPS.realtime]: { maxConcurrent: 0 } },
  };
}

/**
 * falgate's options for the demo. Read at request time from `env`: `FALGATE_DEMO_UPSTREAM` (the mock's
 * URL, set by server.mjs in mock mode), the limits' `FALGATE_DEMO_*` ({@link demoLimits}), `FAL_KEY` and
 * `FALGATE_TOKEN_SECRET` (read by falgate itself).
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
    limits: demoLimits(env),
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
