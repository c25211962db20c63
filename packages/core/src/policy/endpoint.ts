import { APP_NAMESPACES, type FalTarget, ID_SEGMENT } from "./classify.js";
import { snippet } from "./text.js";

export { classifyTarget, type FalTarget } from "./classify.js";
export { checkWebhook } from "./webhook.js";

/** Decides which fal apps and endpoints may be called. */
export interface EndpointPolicy {
  /**
   * True when the target may be called: it must match the configured patterns and, when given, the principal's
   * `narrowing` patterns too. Token and upload targets are not app targets and always pass (tokens are policed
   * with {@link EndpointPolicy.allowsAlias}); unrecognised targets pass only when nothing restricts the call.
   */
  allows(target: FalTarget, narrowing?: readonly string[]): boolean;
  /**
   * True when a fal token may name `alias` (an app name such as `flux`) in `allowed_apps`. fal scopes its tokens
   * by alias only (the token opens `{any owner}/{alias}`), so an owner wildcard (`fal-ai/*`) never allows one: a
   * pattern must name the app (`fal-ai/flux`, `fal-ai/flux/*`, `fal-ai/flux/dev`), in the allowlist and in the
   * principal's narrowing alike. With no patterns anywhere, every alias is allowed.
   */
  allowsAlias(alias: string, narrowing?: readonly string[]): boolean;
  /** `false` when no patterns are configured (every app allowed). */
  readonly restricted: boolean;
}

interface Pattern {
  /** The segments before a trailing `*`, or all of them. */
  fixed: readonly string[];
  /** A trailing `*`: one or more further segments. */
  wildcard: boolean;
  /** The pattern's app name (`flux`, or `*` for `owner/*`). */
  appName: string;
}

const ALIAS = ID_SEGMENT;
const narrowingCache = new WeakMap<readonly string[], readonly Pattern[]>();

/**
 * Compiles `allowedEndpoints` once. Patterns: `owner/app` (that endpoint only), `owner/app/sub/path` (exact),
 * `owner/app/*` (any path below the app, one or more segments), `owner/*` (any app of the owner), and the same
 * after a `workflows/` or `comfy/` namespace. Omit `patterns` to allow every app; `[]` allows none.
 * Patterns name endpoints, not URLs: `.../stream`, `.../realtime` and queue request URLs are understood by
 * {@link classifyTarget}. Segments compare exactly (case-sensitive, no decoding): a mismatch can only refuse.
 * A bad pattern throws a `TypeError` naming `allowedEndpoints`.
 * @example
 * const policy = compileEndpointPolicy(["fal-ai/flux/*", "fal-ai/fast-sdxl", "workflows/me/*"]);
 */
export function compileEndpointPolicy(patterns?: readonly string[]): EndpointPolicy {
  const configured = patterns === undefined ? null : compilePatterns(patterns, "option `allowedEndpoints`");
  return {
    restricted: configured !== null,
    allows(target, narrowing) {
      if (target.kind === "token" || target.kind === "storage") return true;
      const extra = narrowingPatterns(narrowing);
      if (target.kind === "other" || target.appId === null || target.endpointId === null) {
        // Safer to refuse what we cannot name whenever an allowlist is in force.
        return configured === null && extra === null;
      }
      const matches =
        target.kind === "queue-request"
          ? matcher(target.appId.split("/"), matchesApp)
          : matcher(target.endpointId.split("/"), matchesEndpoint);
      return (configured === null || configured.some(matches)) && (extra === null || extra.some(matches));
    },
    allowsAlias(alias, narrowing) {
      if (typeof alias !== "string" || !ALIAS.test(alias)) return false;
      const extra = narrowingPatterns(narrowing);
      // Never `appName === "*"`: an owner wildcard cannot pin down which owner's app a fal token would open.
      const matches = (p: Pattern) => p.appName === alias;
      return (configured === null || configured.some(matches)) && (extra === null || extra.some(matches));
    },
  };
}

/**
 * One endpoint pattern as a test of app targets, for options other than `allowedEndpoints` that key on endpoints
 * (per-endpoint limits and prices): same syntax and same reading, queue request URLs matched by their app. Targets
 * that name no app never match. A bad pattern throws a `TypeError` naming `option`.
 */
export function endpointMatcher(pattern: string, option: string): (target: FalTarget) => boolean {
  const compiled = compilePattern(pattern, option);
  return (target) => {
    if (target.appId === null || target.endpointId === null) return false;
    if (target.kind === "token" || target.kind === "storage" || target.kind === "other") return false;
    return target.kind === "queue-request"
      ? matchesApp(compiled, target.appId.split("/"))
      : matchesEndpoint(compiled, target.endpointId.split("/"));
  };
}

function matcher(
  segments: readonly string[],
  test: (pattern: Pattern, segments: readonly string[]) => boolean,
): (pattern: Pattern) => boolean {
  return (pattern) => test(pattern, segments);
}

function isPrefix(prefix: readonly string[], of: readonly string[]): boolean {
  return prefix.length <= of.length && prefix.every((segment, i) => segment === of[i]);
}

function matchesEndpoint(pattern: Pattern, endpoint: readonly string[]): boolean {
  if (pattern.wildcard) return endpoint.length > pattern.fixed.length && isPrefix(pattern.fixed, endpoint);
  return endpoint.length === pattern.fixed.length && isPrefix(pattern.fixed, endpoint);
}

/** Queue request URLs name the app only: allowed if the pattern could allow some endpoint of that app. */
function matchesApp(pattern: Pattern, app: readonly string[]): boolean {
  return isPrefix(app, pattern.fixed) || (pattern.wildcard && isPrefix(pattern.fixed, app));
}

function narrowingPatterns(narrowing: readonly string[] | null | undefined): readonly Pattern[] | null {
  if (narrowing === undefined || narrowing === null) return null;
  let compiled = narrowingCache.get(narrowing);
  if (!compiled) {
    compiled = compilePatterns(narrowing, "`Principal.endpoints`");
    narrowingCache.set(narrowing, compiled);
  }
  return compiled;
}

function compilePatterns(patterns: readonly string[], name: string): readonly Pattern[] {
  if (!Array.isArray(patterns)) throw new TypeError(`falgate: ${name} must be an array of endpoint patterns`);
  return patterns.map((pattern) => compilePattern(pattern, name));
}

function compilePattern(pattern: unknown, name: string): Pattern {
  const fail = (why: string): never => {
    throw new TypeError(
      `falgate: ${name} has an invalid endpoint pattern ${snippet(String(pattern))}: ${why} ` +
        '(examples: "fal-ai/flux/*", "fal-ai/fast-sdxl", "fal-ai/*", "workflows/me/*")',
    );
  };
  if (typeof pattern !== "string") return fail("patterns must be strings");
  const segments = pattern.split("/");
  const wildcard = segments[segments.length - 1] === "*";
  const fixed = wildcard ? segments.slice(0, -1) : segments;
  const appLength = APP_NAMESPACES.has(segments[0] ?? "") ? 3 : 2;
  if (!fixed.every((segment) => ID_SEGMENT.test(segment))) {
    fail(
      'segments are app id characters, and "*" may only be a whole last segment (no leading or trailing "/")',
    );
  }
  if (segments.length < appLength)
    fail(appLength === 3 ? `${segments[0]}/ needs an owner and a name` : "needs owner/app");
  if (fixed.length < appLength - 1) fail("the owner must be named, not *");
  return { fixed, wildcard, appName: segments[appLength - 1]! };
}
