// What the general-purpose proxies (reply-from, http-proxy-middleware) check before forwarding: the cheapest
// policy a user would write for a fal proxy, an https target on a fal host.

/** The hosts the fal clients call. */
export const FAL_HOSTS = new Set(["fal.run", "queue.fal.run", "rest.fal.ai", "rest.alpha.fal.ai"]);

/** The `x-fal-target-url` header as a URL when it is an https URL on one of `hosts`, else undefined. */
export function falTarget(header, hosts) {
  if (typeof header !== "string") return undefined;
  let target;
  try {
    target = new URL(header);
  } catch {
    return undefined;
  }
  return target.protocol === "https:" && hosts.has(target.hostname) ? target : undefined;
}
