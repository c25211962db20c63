// The production server with the realtime tunnel: the standalone build's request handler on a server of your own,
// so WebSocket upgrades below /api/fal/proxy reach falgate. `node dist/server/entry.mjs` works too, without the tunnel.
import { createServer } from "node:http";
import { attachTunnel } from "@falgate/node";
import { falgateOptions } from "./falgate.options.js";

// The entry starts its own server on import unless told not to.
process.env.ASTRO_NODE_AUTOSTART = "disabled";
const { handler } = await import("./dist/server/entry.mjs");

const server = createServer(handler);
// Tunnel tokens are signed with FALGATE_TOKEN_SECRET (32+ bytes); the route mints them at /api/fal/proxy/token.
attachTunnel(server, falgateOptions(process.env));

server.listen(Number(process.env.PORT ?? 4321), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  console.log(`Server listening on http://${address}:${port} (proxy and tunnel at /api/fal/proxy)`);
});
