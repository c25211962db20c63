import { FalgateError } from "../errors.js";
import type { TargetRule } from "../types.js";
import { snippet } from "./text.js";

/** The longest `x-fal-target-url` accepted, in characters (8 KiB). */
export const MAX_TARGET_LENGTH = 8192;

const REST_PATHS = ["/tokens/", "/storage/upload/initiate", "/storage/upload/initiate-multipart"] as const;

/**
 * Everything the official clients send (PROTOCOL.md §2): any path on `fal.run` and `queue.fal.run`, and only the
 * token and upload-initiate paths on `rest.fal.ai` / `rest.alpha.fal.ai`.
 */
export const DEFAULT_TARGETS: readonly TargetRule[] = Object.freeze([
  Object.freeze({ host: "fal.run", paths: Object.freeze(["/**"]) }),
  Object.freeze({ host: "queue.fal.run", paths: Object.freeze(["/**"]) }),
  Object.freeze({ host: "rest.fal.ai", paths: Object.freeze([...REST_PATHS]) }),
  Object.freeze({ host: "rest.alpha.fal.ai", paths: Object.freeze([...REST_PATHS]) }),
]);

/**
 * Validates `x-fal-target-url` values against the allowed hosts and paths.
 *
 * Decisions: only absolute `https://` URLs of printable ASCII (IDN hosts in `xn--` form), at most 8 KiB; no
 * userinfo, no backslash, no fragment (refused, not stripped); the default port only (an explicit `:443` is the
 * same destination and WHATWG drops it, so it is accepted; any other port is refused); the host must equal a
 * listed host exactly (IP literals, trailing dots and suffixes never do); the path must already be canonical (no
 * `.`/`..` or empty segments, no encoded dot, slash, backslash, `%`, control or unreserved character), so what
 * WHATWG parses is what the caller wrote. Scheme and host case are normalised; query characters WHATWG escapes
 * (`'`, `"`, `<`, `>`) are escaped as any fetch would.
 */
export interface TargetPolicy {
  /**
   * Parses the raw header once and returns the URL to fetch, exactly the object that was checked (a new one per
   * call). Throws `FalgateError` `missing_target`; `invalid_target` (400: malformed, not https, a port,
   * userinfo, non-canonical); `target_not_allowed` (403: host or path not listed, IP literal).
   */
  parse(raw: string | null): URL;
}

interface PathMatcher {
  exact: ReadonlySet<string>;
  /** `"/a"` for the rule `"/a/**"`; `""` for `"/**"`. */
  prefixes: readonly string[];
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const HEX = /^[0-9A-Fa-f]{2}$/;
// RFC 3986 unreserved characters: percent-encoding them only obfuscates (`%2e` is a dot to most servers).
const UNRESERVED = /^[A-Za-z0-9._~-]$/;

function invalid(message: string): never {
  throw new FalgateError("invalid_target", message);
}

function notAllowed(message: string): never {
  throw new FalgateError("target_not_allowed", message);
}

function optionError(message: string): never {
  throw new TypeError(`falgate: option \`allowedTargets\` ${message}`);
}

/** Compiles target rules once (default {@link DEFAULT_TARGETS}); a bad rule throws a `TypeError` naming `allowedTargets`. */
export function compileTargetPolicy(rules: readonly TargetRule[] = DEFAULT_TARGETS): TargetPolicy {
  const hosts = compileRules(rules);
  const names = [...hosts.keys()];
  const hostList = names.length > 6 ? `${names.slice(0, 6).join(", ")}, …` : names.join(", ");
  return {
    parse(raw: string | null): URL {
      const url = parseCanonicalHttpsUrl(raw);
      const matcher = hosts.get(url.hostname);
      if (!matcher) {
        notAllowed(`Target host ${snippet(url.hostname)} is not allowed. Allowed hosts: ${hostList}.`);
      }
      if (!pathAllowed(matcher, url.pathname)) {
        notAllowed(`Target path ${snippet(url.pathname)} is not allowed on ${url.hostname}.`);
      }
      return url;
    },
  };
}

function compileRules(rules: readonly TargetRule[]): Map<string, PathMatcher> {
  if (!Array.isArray(rules)) optionError("must be an array of { host, paths } rules");
  if (rules.length === 0) optionError("must list at least one target (omit it for the defaults)");
  const hosts = new Map<string, { exact: Set<string>; prefixes: string[] }>();
  for (const rule of rules) {
    if (rule === null || typeof rule !== "object") optionError("entries must be { host, paths } objects");
    const host = validRuleHost(rule.host);
    const paths = rule.paths ?? ["/**"];
    if (!Array.isArray(paths) || paths.length === 0) {
      optionError(`paths of ${host} must be a non-empty array (omit it for "/**")`);
    }
    const matcher = hosts.get(host) ?? { exact: new Set<string>(), prefixes: [] };
    hosts.set(host, matcher);
    for (const path of paths) {
      const checked = validRulePath(host, path);
      if (checked.endsWith("/**")) matcher.prefixes.push(checked.slice(0, -3));
      else matcher.exact.add(checked);
    }
  }
  return hosts;
}

function validRuleHost(host: unknown): string {
  if (typeof host !== "string" || host === "") optionError("entries need a host name string");
  const lower = host.toLowerCase();
  const labels = lower.split(".");
  if (!labels.every((label) => HOST_LABEL.test(label)) || IPV4.test(lower)) {
    optionError(
      `host ${snippet(host)} must be a bare DNS name (no scheme, port, trailing dot or IP; IDN hosts in xn-- form)`,
    );
  }
  return lower;
}

function validRulePath(host: string, path: unknown): string {
  if (typeof path !== "string" || !path.startsWith("/")) {
    optionError(`paths of ${host} must be strings starting with "/", got ${snippet(String(path))}`);
  }
  const body = path.endsWith("/**") ? path.slice(0, -3) : path;
  const segments = body.split("/").slice(1);
  const badSegment = segments.some(
    (segment, i) =>
      segment === "." ||
      segment === ".." ||
      (segment === "" && i !== segments.length - 1) ||
      /[*%\\?#\s]/.test(segment),
  );
  if (badSegment) {
    optionError(
      `path ${snippet(path)} of ${host} must be an exact canonical path or a prefix ending in "/**" (no "..", "//", "*", "%")`,
    );
  }
  return path;
}

function pathAllowed(matcher: PathMatcher, pathname: string): boolean {
  if (matcher.exact.has(pathname)) return true;
  return matcher.prefixes.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

/**
 * The syntactic half of the policy: the raw string must be an absolute `https:` URL with the default port, no
 * userinfo, no fragment and a canonical path, so the URL the parser yields is the URL the caller wrote. Checks run
 * on the raw string first (where the parser would silently rewrite) and then on the parsed URL.
 */
function parseCanonicalHttpsUrl(raw: string | null): URL {
  if (raw === null || raw === "") {
    throw new FalgateError("missing_target", "Missing the x-fal-target-url header (the fal URL to call).");
  }
  if (raw.length > MAX_TARGET_LENGTH) {
    invalid(`The target URL is ${raw.length} characters long; at most ${MAX_TARGET_LENGTH} are accepted.`);
  }
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f) {
      invalid(
        `The target URL has a control, whitespace or non-ASCII character at position ${i} ` +
          "(percent-encode it; write IDN hosts in xn-- form; send one x-fal-target-url header).",
      );
    }
  }
  if (raw.includes("\\")) invalid("The target URL must not contain a backslash.");
  if (raw.includes("#")) invalid("The target URL must not contain a fragment (#).");

  const scheme = SCHEME.exec(raw);
  if (!scheme) invalid(`The target must be an absolute https:// URL, got ${snippet(raw)}.`);
  if (scheme[1]!.toLowerCase() !== "https") {
    invalid(`Only https: targets are allowed, got ${snippet(`${scheme[1]}:`)}.`);
  }
  const rest = raw.slice(scheme[0].length);
  if (!rest.startsWith("//") || rest.charAt(2) === "/") {
    invalid(`The target must look like https://host/path, got ${snippet(raw)}.`);
  }
  const afterSlashes = rest.slice(2);
  const authorityEnd = afterSlashes.search(/[/?]/);
  const authority = authorityEnd === -1 ? afterSlashes : afterSlashes.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? "" : afterSlashes.slice(authorityEnd);
  if (authority.includes("@"))
    invalid("The target URL must not contain credentials or an @ before the host.");
  if (authority.includes("%")) invalid("The target host must not be percent-encoded.");
  if (authority.startsWith("[")) notAllowed("IP address targets are not allowed; use a fal host name.");

  const queryStart = tail.indexOf("?");
  const rawPath = queryStart === -1 ? tail : tail.slice(0, queryStart);
  checkRawPath(rawPath);

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    invalid(`The target is not a valid URL: ${snippet(raw)}.`);
  }
  // The raw checks above make these unreachable; they stay as a guard against parser differences.
  if (url.protocol !== "https:") invalid("Only https: targets are allowed.");
  if (url.username !== "" || url.password !== "") invalid("The target URL must not contain credentials.");
  if (url.port !== "")
    invalid(`Target port ${url.port} is not allowed; only the default https port (443) is.`);
  if (IPV4.test(url.hostname) || url.hostname.startsWith("[")) {
    notAllowed(`IP address targets are not allowed (${snippet(url.hostname)}); use a fal host name.`);
  }
  if (url.hostname.endsWith("."))
    notAllowed(`The target host must not end with a dot: ${snippet(url.hostname)}.`);
  if ((rawPath === "" ? "/" : rawPath) !== url.pathname) {
    invalid(
      `The target path is not in canonical form (${snippet(rawPath)}); percent-encode special characters.`,
    );
  }
  return url;
}

function checkRawPath(path: string): void {
  if (path === "") return;
  const segments = path.split("/").slice(1);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === "" && i !== segments.length - 1)
      invalid("The target path must not contain empty segments (//).");
    const dots = segment.replace(/%2e/gi, ".");
    if (dots === "." || dots === "..")
      invalid("The target path must not contain . or .. segments, encoded or not.");
    for (let p = segment.indexOf("%"); p !== -1; p = segment.indexOf("%", p + 1)) {
      const hex = segment.slice(p + 1, p + 3);
      if (!HEX.test(hex))
        invalid("The target path has a malformed percent-encoding (% not followed by two hex digits).");
      const code = Number.parseInt(hex, 16);
      const char = String.fromCharCode(code);
      if (char === "/" || char === "\\")
        invalid("The target path must not contain encoded slashes (%2F, %5C).");
      if (char === ".") invalid("The target path must not contain encoded dots (%2E).");
      if (char === "%") invalid("The target path must not contain double percent-encoding (%25).");
      // %20 is a legitimate space; encoded control characters are not.
      if (code < 0x20 || code === 0x7f)
        invalid("The target path must not contain encoded control characters.");
      if (UNRESERVED.test(char))
        invalid(`The target path percent-encodes ${snippet(char)} (%${hex}); write it plainly.`);
    }
  }
}
