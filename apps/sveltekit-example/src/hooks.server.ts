import { type Handle, text } from "@sveltejs/kit";

const PROXY = "/api/fal/proxy";
const FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];
const UNSAFE_METHODS = ["POST", "PUT", "PATCH", "DELETE"];

export const handle: Handle = async ({ event, resolve }) => {
  // SvelteKit's CSRF check, as svelte.config.js turned it off, for every route but the proxy (falgate refuses
  // cross-site origins there itself, and non-browser callers have no Origin to send).
  const { request, url } = event;
  const proxied = url.pathname === PROXY || url.pathname.startsWith(`${PROXY}/`);
  if (!proxied && UNSAFE_METHODS.includes(request.method) && isForm(request) && !sameOrigin(request, url)) {
    return text(`Cross-site ${request.method} form submissions are forbidden`, { status: 403 });
  }

  // Your session lookup goes here (a cookie, a JWT); falgate's `authorize` can then read `event.locals.user`.
  event.locals.user = null;
  return resolve(event);
};

function isForm(request: Request): boolean {
  const type = request.headers.get("content-type")?.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  return FORM_TYPES.includes(type);
}

function sameOrigin(request: Request, url: URL): boolean {
  return request.headers.get("origin") === url.origin;
}
