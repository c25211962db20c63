import { FalgateError } from "../errors.js";
import { snippet } from "../policy/text.js";

/**
 * Which host names may address this instance (the `Host` header), against DNS rebinding: a page on a name the
 * attacker controls, whose DNS is rebound to a loopback or intranet address, is same-origin to the browser. IP
 * literals, `localhost` and `*.localhost` cannot be rebound (no DNS is asked), so they always pass.
 */
export interface HostPolicy {
  /** True when `hostname` (lower case, without port or trailing dot; IPv6 in brackets) may address the proxy. */
  allows(hostname: string): boolean;
}

/** What the host check reads of a request: its headers and (when it has no `Host`) the URL the binding built. */
export interface HostSource {
  /** A request header by lower-case name, or `null`. */
  header(name: string): string | null;
  /** The absolute request URL; read only when the request has no `Host` header (HTTP/2, some platforms). */
  readonly url: string;
}

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;
const NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;

/**
 * The one rule for when the host check applies, compiled once: `allowedHosts: true` turns it off; an explicit list
 * applies always; without one it applies when admission rests on the origin (no `authorize` hook: the same-origin
 * default and `allowUnauthenticated`) and is off with an `authorize` hook (a rebound page carries no session of the
 * real site). Besides the built-in names, the hosts of `allowedOrigins` pass. Returns `null` when the check is off.
 * A bad entry throws a `TypeError` naming `allowedHosts`.
 */
export function compileHostPolicy(
  allowedHosts: true | readonly string[] | undefined,
  allowedOrigins: ReadonlySet<string>,
  hasAuthorize: boolean,
): HostPolicy | null {
  if (allowedHosts === true) return null;
  if (allowedHosts === undefined && hasAuthorize) return null;
  if (allowedHosts !== undefined && !Array.isArray(allowedHosts)) {
    fail("must be `true` (no host check) or an array of host names");
  }
  const exact = new Set<string>();
  const suffixes = new Set<string>();
  for (const origin of allowedOrigins) exact.add(new URL(origin).hostname);
  for (const entry of allowedHosts ?? []) {
    const name = hostEntry(entry);
    if (name.startsWith(".")) suffixes.add(name.slice(1));
    else exact.add(name);
  }
  return {
    allows(hostname) {
      if (hostname === "localhost" || hostname.endsWith(".localhost")) return true;
      if (IPV4.test(hostname) || IPV6.test(hostname) || exact.has(hostname)) return true;
      if (suffixes.size === 0) return false;
      // `.example.com` allows example.com and every name below it.
      for (let name = hostname; ; ) {
        if (suffixes.has(name)) return true;
        const dot = name.indexOf(".");
        if (dot === -1) return false;
        name = name.slice(dot + 1);
      }
    },
  };
}

/**
 * `allowedHosts` from a comma-separated setting (an env variable, a CLI flag): `"all"` alone means no host check
 * (`true`), otherwise the names; `undefined` when the setting is empty. `"all"` among names throws a `TypeError`.
 */
export function allowedHostsSetting(value: string | undefined): true | string[] | undefined {
  const names = (value ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length === 0) return undefined;
  if (!names.includes("all")) return names;
  if (names.length > 1) fail('is either "all" (no host check) or a list of host names, not both');
  return true;
}

/**
 * Refuses a request addressed to a host name the policy does not allow (`403 host_not_allowed`): the `Host` header
 * and, with `trustProxy`, the first `X-Forwarded-Host` (the host the request URL is built from) must both pass.
 */
export function checkHost(policy: HostPolicy, request: HostSource, trustProxy: boolean): void {
  const host = request.header("host") ?? authorityOf(request.url);
  if (!policy.allows(hostnameOf(host))) throw hostNotAllowed(host);
  if (!trustProxy) return;
  const forwarded = request.header("x-forwarded-host")?.split(",")[0]?.trim();
  if (forwarded && !policy.allows(hostnameOf(forwarded))) throw hostNotAllowed(forwarded);
}

/** `host[:port]` → `host`, lower case, without a trailing dot; an IPv6 literal keeps its brackets. */
function hostnameOf(authority: string): string {
  let end: number;
  if (authority.startsWith("[")) {
    end = authority.indexOf("]") + 1;
    if (end === 0) end = authority.length;
  } else {
    end = authority.indexOf(":");
    if (end === -1) end = authority.length;
  }
  if (authority.charCodeAt(end - 1) === 46 /* . */) end--;
  return authority.slice(0, end).toLowerCase();
}

/** The authority of an absolute URL, without parsing it (`http://a:1/p` → `a:1`). */
function authorityOf(url: string): string {
  const start = url.indexOf("//") + 2;
  const end = url.indexOf("/", start);
  return url.slice(start, end === -1 ? url.length : end);
}

function hostNotAllowed(host: string): FalgateError {
  // The Host header is the caller's: printable ASCII only, quoted and cut short.
  const shown = (value: string) => snippet(value.replace(/[^\x21-\x7e]/g, "?"), 100);
  return new FalgateError(
    "host_not_allowed",
    `Blocked request: this host (${shown(host)}) is not allowed (DNS rebinding protection). ` +
      `To allow it, add ${shown(hostnameOf(host))} to \`allowedHosts\` (standalone server: --allowed-hosts).`,
  );
}

/** Validates one `allowedHosts` entry: `name`, `.domain` (the domain and its subdomains), or an IP literal. */
function hostEntry(entry: unknown): string {
  if (typeof entry !== "string") fail(`entries must be strings, got ${typeof entry}`);
  let name = entry.toLowerCase();
  if (name.endsWith(".") && name.length > 1) name = name.slice(0, -1);
  if (IPV6.test(name)) return name;
  const shown = JSON.stringify(entry);
  if (name.includes("://"))
    fail(`entries are host names, not URLs (origins go in \`allowedOrigins\`): ${shown}`);
  if (name.includes("*"))
    fail(`entries have no wildcards; ".example.com" allows example.com and its subdomains: ${shown}`);
  if (name.includes(":")) fail(`entries are host names without a port: ${shown}`);
  if (!NAME.test(name.startsWith(".") ? name.slice(1) : name)) {
    fail(`has an entry that is not a host name (IDNs in their xn-- form): ${shown}`);
  }
  return name;
}

function fail(message: string): never {
  throw new TypeError(`falgate: option \`allowedHosts\` ${message}`);
}
