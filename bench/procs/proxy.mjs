// falgate under test, in its own process: the standalone server from @falgate/node (built dist), with
// either the undici transport (the Node default) or Node's global fetch, plus the realtime tunnel.
import { runChild } from "../lib/child.mjs";
import { distUrl } from "../lib/deps.mjs";

let node;
try {
  node = await import(distUrl("node"));
} catch (error) {
  // The tunnel half of the tree may be mid-change; the HTTP scenarios only need the server.
  process.stderr.write(`[proxy] @falgate/node index failed to load (${error.message}); using dist/server.js\n`);
  node = await import(new URL("server.js", distUrl("node")).href);
}

let logged = 0;
// Warnings and errors are shown (a bench that hides failures lies), but only the first few.
const log = (level) => (message, fields) => {
  if (++logged <= 5) process.stderr.write(`[proxy ${level}] ${message} ${fields ? JSON.stringify(fields) : ""}\n`);
};
const logger = { warn: log("warn"), error: log("error") };

runChild(async (config) => {
  const options = {
    credentials: config.key,
    upstream: config.upstream,
    // A real deployment authenticates the caller; a constant principal costs what a cheap check costs.
    authorize: () => ({ id: "bench" }),
    maxBodySize: config.maxBodySize,
    logger,
  };
  if (config.transport === "fetch") options.fetch = globalThis.fetch;
  const server = await node.startServer({ ...options, port: 0, host: "127.0.0.1" });
  let tunnel;
  if (config.tunnelSecret) {
    if (typeof node.attachTunnel !== "function") throw new Error("@falgate/node has no attachTunnel yet");
    tunnel = node.attachTunnel(server.server, {
      ...options,
      tokens: { secret: config.tunnelSecret },
      tunnel: { maxPerPrincipal: 0 },
    });
  }
  return {
    info: { url: server.url, path: "/api/fal/proxy", transport: config.transport ?? "undici" },
    stats: () => (tunnel ? { tunnels: tunnel.size } : null),
    close: async () => {
      await tunnel?.close();
      await server.close();
    },
  };
});
