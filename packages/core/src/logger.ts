import type { Logger } from "./types.js";

/** The default logger: warnings and errors to the console, prefixed, structured fields as a second argument. */
export function consoleLogger(): Logger {
  const c = (globalThis as { console?: Console }).console;
  return {
    warn: (message, fields) => c?.warn(`[falgate] ${message}`, ...(fields ? [fields] : [])),
    error: (message, fields) => c?.error(`[falgate] ${message}`, ...(fields ? [fields] : [])),
  };
}

/** Replaces every occurrence of `secret` in `text` (defence in depth for messages of foreign errors). */
export function redact(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  return text.split(secret).join("[redacted]");
}
