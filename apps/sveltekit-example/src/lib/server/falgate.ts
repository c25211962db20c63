import { createFalgate } from "@falgate/sveltekit";
import { env } from "$env/dynamic/private";
import { falgateOptions } from "../../../falgate.options.js";

/**
 * The app's falgate instance (`$env/dynamic/private` is `process.env` with adapter-node). No `authorize` hook: only
 * same-origin pages (and `allowedOrigins`) may call. In a real app, return the signed-in user that
 * src/hooks.server.ts put on `locals`: `authorize: (request, { event }) => event.locals.user`.
 */
export const falgate = createFalgate(falgateOptions(env));
