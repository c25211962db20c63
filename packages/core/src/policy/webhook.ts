import { FalgateError } from "../errors.js";
import { snippet } from "./text.js";

const WEBHOOK_PARAM = "fal_webhook";
const MAY_NAME_WEBHOOK = /webhook|%/i;
const originCache = new WeakMap<readonly string[], ReadonlySet<string>>();

function refuse(message: string): never {
  throw new FalgateError("webhook_not_allowed", message);
}

/**
 * Polices the `fal_webhook` query parameter (fal POSTs results to it): allowed only once, written exactly
 * `fal_webhook=`, as an `https:` URL whose origin is exactly one of `webhookOrigins`. Any other spelling that some
 * parser could read as the parameter (see {@link readsAsWebhook}) is refused, whatever its value. Throws
 * `webhook_not_allowed`; a target without it passes.
 */
export function checkWebhook(url: URL, webhookOrigins: readonly string[]): void {
  const query = url.search;
  // The common case costs one scan: without "webhook" (any case) or a %-escape no name can spell the parameter.
  if (query === "" || !MAY_NAME_WEBHOOK.test(query)) return;
  let canonical = 0;
  for (const field of query.slice(1).split("&")) {
    const parts = field.split(";");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const equals = part.indexOf("=");
      const name = equals === -1 ? part : part.slice(0, equals);
      if (i === 0 && name === WEBHOOK_PARAM) {
        canonical++;
        continue;
      }
      if (readsAsWebhook(name)) {
        refuse(
          `The target's query has ${snippet(name)}, which a lenient parser reads as fal_webhook; ` +
            "write the parameter exactly as fal_webhook=<percent-encoded https URL>, once.",
        );
      }
    }
  }
  if (canonical === 0) return;
  const hooks = url.searchParams.getAll(WEBHOOK_PARAM);
  if (hooks.length > 1) refuse("The target carries fal_webhook more than once; send it at most once.");
  const raw = hooks[0]!;
  const hook = parseStrictHttpsUrl(raw);
  if (!origins(webhookOrigins).has(hook.origin)) {
    refuse(
      `Webhook origin ${snippet(hook.origin)} is not allowed` +
        (webhookOrigins.length === 0
          ? " (no webhookOrigins are configured)."
          : "; add it to webhookOrigins."),
    );
  }
}

/**
 * The webhook URL is parsed by fal, not by us, so anything two parsers could read differently is refused:
 * non-ASCII or control characters, backslashes, userinfo, a host written other than canonically.
 */
function parseStrictHttpsUrl(raw: string): URL {
  if (raw === "") refuse("The fal_webhook value is empty; it must be an https:// URL.");
  if (!/^[\x21-\x7e]+$/.test(raw) || raw.includes("\\")) {
    refuse("The fal_webhook URL has a backslash, whitespace, control or non-ASCII character.");
  }
  if (!/^https:\/\//i.test(raw)) refuse(`The fal_webhook URL must be an https:// URL, got ${snippet(raw)}.`);
  let hook: URL;
  try {
    hook = new URL(raw);
  } catch {
    refuse(`The fal_webhook value is not a valid URL: ${snippet(raw)}.`);
  }
  const authority = raw.slice("https://".length).split(/[/?#]/, 1)[0]!;
  if (authority.toLowerCase() !== hook.host) {
    refuse(
      `The fal_webhook host must be written plainly (no credentials, @, encoding or default port): ${snippet(raw)}.`,
    );
  }
  return hook;
}

/**
 * True when some query parser could read the raw parameter name `raw` as `fal_webhook`: percent-decoded (as often
 * as it decodes, as UTF-8 or byte by byte) with `+` as a space, cut at a NUL, stripped of a `[...]` array suffix
 * (PHP, Rack, qs) and of surrounding whitespace and control characters, with spaces, dots and an open `[` read as
 * `_` (PHP), compatibility-normalised (NFKC) and in any case.
 */
export function readsAsWebhook(raw: string): boolean {
  let name = raw.replace(/\+/g, " ");
  for (let i = 0; i < 4 && name.includes("%"); i++) {
    const decoded = percentDecode(name);
    if (decoded === name) break;
    name = decoded;
  }
  const nul = name.indexOf("\0");
  if (nul !== -1) name = name.slice(0, nul);
  const open = name.indexOf("[");
  if (open !== -1 && name.indexOf("]", open) !== -1) name = name.slice(0, open);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is stripped here.
  name = name.normalize("NFKC").replace(/^[\s\x00-\x1f\x7f]+|[\s\x00-\x1f\x7f]+$/g, "");
  return name.toLowerCase().replace(/[\s.[]/g, "_") === WEBHOOK_PARAM;
}

function percentDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    // Not UTF-8 (or a stray %): decode what can be, byte by byte, as lenient parsers do.
    return value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
  }
}

function origins(list: readonly string[]): ReadonlySet<string> {
  const cached = originCache.get(list);
  if (cached) return cached;
  const set = new Set<string>();
  for (const entry of list) {
    try {
      const url = new URL(entry);
      if (url.protocol === "https:") set.add(url.origin);
    } catch {
      // Entries are validated by the option resolver; an unparsable one simply matches nothing.
    }
  }
  originCache.set(list, set);
  return set;
}
