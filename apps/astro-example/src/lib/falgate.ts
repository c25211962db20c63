import { createFalgate } from "@falgate/astro";
import { falgateOptions } from "../../falgate.options.js";

/**
 * The app's falgate instance, configured from the standalone server's runtime environment (`process.env`, not
 * `import.meta.env`, which Vite fills in at build time). No `authorize` hook: only same-origin pages (and
 * `allowedOrigins`) may call. In a real app, return the signed-in user that src/middleware.ts put on `locals`:
 * `authorize: (request, { context }) => context.locals.user`.
 */
export const falgate = createFalgate(falgateOptions(process.env));
