import adapter from "@sveltejs/adapter-node";

/** @type {import('@sveltejs/kit').Config} */
export default {
  kit: {
    adapter: adapter(),
    // SvelteKit refuses form-typed POST/PUT/PATCH/DELETE bodies (multipart, urlencoded, text/plain) whose Origin is
    // not the app's own, before any route or hook runs, and the switch is app-wide. Browsers on your own origin
    // pass it; callers without an Origin (a server, a mobile app uploading multipart) do not. This app turns the
    // built-in check off and applies the same check in src/hooks.server.ts to every route except the proxy, where
    // falgate checks origins itself. See docs/adapters/sveltekit.md.
    csrf: { trustedOrigins: ["*"] },
    typescript: {
      // Type-check the options module at the app's root too (shared with the custom server).
      config: (config) => {
        config.include.push("../falgate.options.js");
      },
    },
  },
};
