// falgate's core on Bun: `Bun.serve` hands each Fetch `Request` to the instance. Run: `bun server.ts`.
import { createFalgate } from "@falgate/core";

const PATH = "/api/fal/proxy";

interface BunContext {
  server: Bun.Server<undefined>;
}

const falgate = createFalgate<BunContext>({
  // Only these fal apps can be called through this proxy. fal tokens (scoped by app name, for every
  // owner) are only minted for apps named exactly, like fast-sdxl here; `fal-ai/*` alone allows none.
  allowedEndpoints: ["fal-ai/*", "fal-ai/fast-sdxl"],
  // Other origins of yours whose pages call this proxy (comma-separated); same-origin pages need nothing.
  allowedOrigins: list(process.env.FALGATE_ALLOWED_ORIGINS),
  // Development: send fal traffic to a local mock (`falgate-mock`) instead of fal.ai.
  upstream: process.env.FALGATE_UPSTREAM || undefined,
  // Tie calls to your users: hooks get Bun's `server` next to the request.
  // authorize: async (request, { server }) => ...,
});

const server = Bun.serve({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 3000),
  fetch(request, server) {
    const { pathname } = new URL(request.url);
    if (pathname !== PATH && !pathname.startsWith(`${PATH}/`)) {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    // Bun closes a request that sends no byte for 10 s (`idleTimeout`); a fal call can think longer than that.
    // falgate's own `timeouts` bound the wait instead.
    server.timeout(request, 0);
    // FAL_KEY is read from process.env (Bun.env) on each request.
    return falgate.handle(request, {
      env: process.env,
      context: { server },
      ip: server.requestIP(request)?.address ?? null,
    });
  },
});

console.log(`falgate on Bun: http://${server.hostname}:${server.port}${PATH}`);

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

const PAGE =
  '<!doctype html><title>falgate + Bun</title><h1>falgate + Bun</h1><p>The fal proxy is at <code>/api/fal/proxy</code>: configure <code>@fal-ai/client</code> with <code>proxyUrl: "/api/fal/proxy"</code>.</p>';
