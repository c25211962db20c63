// The production server with the realtime tunnel: adapter-node's request handler on a server of your own, so
// WebSocket upgrades below /api/fal/proxy reach falgate. `node build` works too, without the tunnel.
import { createServer } from "node:http";
import { attachTunnel } from "@falgate/node";
import { handler } from "./build/handler.js";
import { falgateOptions } from "./falgate.options.js";

const server = createServer(handler);
// Tunnel tokens are signed with FALGATE_TOKEN_SECRET (32+ bytes); the route mints them at /api/fal/proxy/token.
attachTunnel(server, falgateOptions(process.env));

server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  console.log(`Listening on http://${address}:${port} (proxy and tunnel at /api/fal/proxy)`);
});
