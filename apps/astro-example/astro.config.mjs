import node from "@astrojs/node";
import { defineConfig } from "astro/config";

export default defineConfig({
  output: "server",
  adapter: node({ mode: "standalone" }),
  security: {
    // Astro refuses POST/PUT/PATCH/DELETE whose Origin is not the app's own when they carry a form content type
    // (multipart, urlencoded, text/plain) or none at all, before any route or middleware runs, and the switch is
    // app-wide. Browsers on your own origin pass it; other callers of the proxy (a server, a mobile app) do not.
    // This app turns the built-in check off and applies the same check in src/middleware.ts to every route except
    // the proxy, where falgate checks origins itself. See docs/adapters/astro.md.
    checkOrigin: false,
  },
});
