/** The header falgate's `upstream` option uses to carry the original fal host. */
export const UPSTREAM_HOST_HEADER = "x-falgate-upstream-host";

/** The fal hosts the mock serves. */
export const FAL_HOSTS: readonly string[] = ["fal.run", "queue.fal.run", "rest.fal.ai", "rest.alpha.fal.ai"];
