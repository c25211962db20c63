import type { FalgateEnv } from "@falgate/core";

/**
 * The env seen by each request: `process.env` (live, so values set after start-up count; Next also provides it
 * on the Edge runtime) under `extra`. A prototype link instead of a copy keeps it live and costs nothing per request.
 */
export function platformEnv(extra: FalgateEnv | undefined): FalgateEnv {
  const live = (globalThis as { process?: { env?: FalgateEnv } }).process?.env ?? {};
  return extra ? Object.assign(Object.create(live) as FalgateEnv, extra) : live;
}
