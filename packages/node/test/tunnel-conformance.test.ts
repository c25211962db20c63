import { createFalgate } from "@falgate/core";
import { describeTunnelConformance, type TunnelConformanceOptions } from "@falgate/testkit";
import { startServer } from "../src/index.js";

/** The standalone server: HTTP proxy, token route and the `ws` tunnel binding on one port, one instance. */
async function start(options: TunnelConformanceOptions) {
  const falgate = createFalgate({
    credentials: options.credentials,
    upstream: options.upstream,
    allowedEndpoints: options.allowedEndpoints,
    allowedOrigins: options.allowedOrigins,
    tokens: { secret: options.secret },
    tunnel: { maxPerPrincipal: options.maxPerPrincipal, maxPayload: options.maxPayload },
    authorize: (request) => ({ id: request.headers.get("x-test-user") ?? "anonymous" }),
    logger: { warn: () => {}, error: () => {} },
  });
  const server = await startServer({ falgate, port: 0 });
  return { origin: server.url, close: server.close };
}

describeTunnelConformance({ name: "Node (ws) in the standalone server", start });
