// falgate's core on Deno: `Deno.serve` hands each Fetch `Request` to the instance.
// Run: `deno run --allow-net --allow-env main.ts` (the packages come from node_modules: `npm install` first).
import { createFalgate, type FalgateEnv } from "@falgate/core";

const PATH = "/api/fal/proxy";

interface DenoContext {
  info: Deno.ServeHandlerInfo<Deno.NetAddr>;
}

/** Deno's env as falgate reads it: by name (FAL_KEY, ...), live, nothing copied. */
const env: FalgateEnv = new Proxy(
  {},
  { get: (_target, name) => (typeof name === "string" ? Deno.env.get(name) : undefined) },
);

const falgate = createFalgate<DenoContext>({
  // Only these fal apps can be called through this proxy. fal tokens (scoped by app name, for every
  // owner) are only minted for apps named exactly, like fast-sdxl here; `fal-ai/*` alone allows none.
  allowedEndpoints: ["fal-ai/*", "fal-ai/fast-sdxl"],
  // Other origins of yours whose pages call this proxy (comma-separated); same-origin pages need nothing.
  allowedOrigins: list(Deno.env.get("FALGATE_ALLOWED_ORIGINS")),
  // Development: send fal traffic to a local mock (`falgate-mock`) instead of fal.ai.
  upstream: Deno.env.get("FALGATE_UPSTREAM") || undefined,
  // Tie calls to your users: hooks get Deno's connection info next to the request.
  // authorize: async (request, { info }) => ...,
});

Deno.serve(
  {
    hostname: Deno.env.get("HOST") ?? "127.0.0.1",
    port: Number(Deno.env.get("PORT") ?? 8000),
    onListen: ({ hostname, port }) => console.log(`falgate on Deno: http://${hostname}:${port}${PATH}`),
  },
  (request, info) => {
    const { pathname } = new URL(request.url);
    if (pathname !== PATH && !pathname.startsWith(`${PATH}/`)) {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    return falgate.handle(request, { env, context: { info }, ip: info.remoteAddr.hostname });
  },
);

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

const PAGE =
  '<!doctype html><title>falgate + Deno</title><h1>falgate + Deno</h1><p>The fal proxy is at <code>/api/fal/proxy</code>: configure <code>@fal-ai/client</code> with <code>proxyUrl: "/api/fal/proxy"</code>.</p>';
