import { csrfExceptFalgate } from "@falgate/sveltekit";
import type { Handle } from "@sveltejs/kit";
import { sequence } from "@sveltejs/kit/hooks";

// SvelteKit's CSRF check, as svelte.config.js turned the built-in one off, for every route but the proxy (falgate
// refuses cross-site origins there itself, and non-browser callers have no Origin to send).
const session: Handle = ({ event, resolve }) => {
  // Your session lookup goes here (a cookie, a JWT); falgate's `authorize` can then read `event.locals.user`.
  event.locals.user = null;
  return resolve(event);
};

export const handle = sequence(csrfExceptFalgate(), session);
