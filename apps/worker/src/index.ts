import { allowedHostsSetting, createFalgateHandler } from "@falgate/cloudflare";

/** The Worker's bindings (see wrangler.toml; FAL_KEY is a secret: `wrangler secret put FAL_KEY`). */
export interface Env {
  FAL_KEY: string;
  /** Comma-separated origins of your web app allowed to call this Worker from the browser (CORS). */
  FALGATE_ALLOWED_ORIGINS?: string;
  /**
   * Comma-separated host names this Worker answers same-origin calls on, besides localhost and IPs (the DNS
   * rebinding check; e.g. your app's domain when the Worker is routed there); `all` turns the check off.
   */
  FALGATE_ALLOWED_HOSTS?: string;
  /** Comma-separated fal app patterns this proxy may call (`fal-ai/flux/*,fal-ai/fast-sdxl`); empty for all. */
  FALGATE_ALLOWED_ENDPOINTS?: string;
  /** Development only: send fal traffic to another origin, such as a local `falgate-mock`. */
  FALGATE_UPSTREAM?: string;
}

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

// Options are built from the bindings once (Workers only see them inside fetch); FAL_KEY is read per request.
export default createFalgateHandler<Env>((env) => {
  const endpoints = list(env.FALGATE_ALLOWED_ENDPOINTS);
  const hosts = allowedHostsSetting(env.FALGATE_ALLOWED_HOSTS);
  return {
    allowedOrigins: list(env.FALGATE_ALLOWED_ORIGINS),
    ...(hosts === undefined ? {} : { allowedHosts: hosts }),
    ...(endpoints.length > 0 ? { allowedEndpoints: endpoints } : {}),
    ...(env.FALGATE_UPSTREAM ? { upstream: env.FALGATE_UPSTREAM } : {}),
  };
});
