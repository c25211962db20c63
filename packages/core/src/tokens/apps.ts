/** Longest app id falgate accepts in a token or a token request. */
const MAX_APP_ID = 256;
const SEGMENT = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;

/**
 * Normalises an app id (`fal-ai/fast-sdxl`, `fal-ai/fast-sdxl/realtime`, `workflows/me/flow`): strips
 * surrounding slashes; returns `null` unless it is 2+ plain path segments (no `.`/`..`, no encoding tricks).
 */
export function normaliseAppId(raw: unknown): string | null {
  if (typeof raw !== "string") return null;
  const id = raw.replace(/^\/+|\/+$/g, "");
  if (id.length === 0 || id.length > MAX_APP_ID) return null;
  const segments = id.split("/");
  if (segments.length < 2) return null;
  for (const segment of segments) if (!SEGMENT.test(segment)) return null;
  return id;
}

/**
 * True when a token scoped to `apps` may open `id`: an entry covers itself and every path below it
 * (`fal-ai/x` covers `fal-ai/x/realtime`, never `fal-ai/x-turbo`).
 */
export function appCovered(apps: readonly string[], id: string): boolean {
  for (const app of apps) {
    if (id === app || id.startsWith(`${app}/`)) return true;
  }
  return false;
}
