/**
 * `value` as a URL when it is `https:`, or `http:` on loopback (`localhost`, `*.localhost`, 127.0.0.0/8,
 * `[::1]`), else `undefined`: the rule for every URL falgate trusts keys from (key sets, identity providers),
 * since whoever can change what such a URL serves can sign tokens or webhooks.
 */
export function secureUrl(value: unknown): URL | undefined {
  if (typeof value !== "string" && !(value instanceof URL)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const host = url.hostname;
  const loopback =
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "[::1]" ||
    /^127(\.\d{1,3}){3}$/.test(host);
  return url.protocol === "https:" || (url.protocol === "http:" && loopback) ? url : undefined;
}
