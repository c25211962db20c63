import { FalgateError } from "../errors.js";
import { snippet } from "./text.js";

const WEBHOOK_PARAM = "fal_webhook";
const originCache = new WeakMap<readonly string[], ReadonlySet<string>>();

function refuse(message: string): never {
  throw new FalgateError("webhook_not_allowed", message);
}

/**
 * Polices the `fal_webhook` query parameter (fal POSTs results to it): allowed only once, as an `https:` URL whose
 * origin is exactly one of `webhookOrigins`. Throws `webhook_not_allowed` otherwise; a target without it passes.
 */
export function checkWebhook(url: URL, webhookOrigins: readonly string[]): void {
  const hooks: string[] = [];
  for (const [name, value] of url.searchParams) {
    // Case and padding variants too: the upstream parser is not ours, so treat anything close as the webhook.
    if (name.trim().toLowerCase() === WEBHOOK_PARAM) hooks.push(value);
  }
  if (hooks.length === 0) return;
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
