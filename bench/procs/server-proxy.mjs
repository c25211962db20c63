// @fal-ai/server-proxy 1.x, the proxy fal publishes, on Express 4 (its peer range) or on Hono with
// @hono/node-server, set up as its README shows (`express.json()` before the Express handler), with an
// endpoint allowlist and a constant "authenticated" check.
//
// Reaching the loopback upstream: server-proxy calls the global `fetch` with the `x-fal-target-url` as given
// (`https://fal.run/...`) and offers no custom fetch or base URL. So this process installs an undici global
// dispatcher whose connector opens every connection to the upstream's TLS port on 127.0.0.1 while keeping the
// original host for SNI, certificate check and `Host` (the bench's certificate names the fal hosts, trusted
// through NODE_EXTRA_CA_CERTS). No DNS or hosts file changes; server-proxy's own code runs unmodified.
import { Agent, buildConnector, setGlobalDispatcher } from "undici";
import { runChild } from "../lib/child.mjs";

const ALLOWED_ENDPOINTS = ["fal-ai/**", "bench/**"];

runChild(async ({ variant, upstream, key }) => {
  redirectFalHostsTo(new URL(upstream));
  // server-proxy reads FAL_KEY when its module loads.
  process.env.FAL_KEY = key;
  const config = {
    allowedEndpoints: ALLOWED_ENDPOINTS,
    allowUnauthorizedRequests: false,
    // A real app checks its session here; a constant costs what a cheap check costs.
    isAuthenticated: async () => true,
  };
  const server = variant === "hono" ? await startHono(config) : await startExpress(config);
  return {
    info: { url: `http://127.0.0.1:${server.address().port}/api/fal/proxy` },
    close: async () => {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
});

/** Every connection of the global dispatcher goes to `upstream`'s port on loopback, SNI unchanged. */
function redirectFalHostsTo(upstream) {
  const port = Number(upstream.port);
  const connect = buildConnector({});
  setGlobalDispatcher(
    new Agent({
      connect: (options, callback) =>
        connect(
          {
            ...options,
            hostname: upstream.hostname,
            host: `${upstream.hostname}:${port}`,
            port,
            servername: options.servername || options.hostname,
          },
          callback,
        ),
    }),
  );
}

async function startExpress(config) {
  const { default: express } = await import("express4");
  // Its express entry builds a default handler when imported, which prints two warnings about defaults
  // (no endpoint allowlist, unauthenticated calls allowed) that this row's handler does not use.
  const { createHandler, route } = await import("@fal-ai/server-proxy/express");
  const app = express();
  app.use(express.json());
  app.all(route, createHandler(config));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve, reject) => server.once("listening", resolve).once("error", reject));
  return server;
}

async function startHono(config) {
  const { Hono } = await import("hono");
  const { serve } = await import("@hono/node-server");
  const { createRouteHandler } = await import("@fal-ai/server-proxy/hono");
  const app = new Hono();
  app.all("/api/fal/proxy", createRouteHandler(config));
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(server));
  });
}
