// falgate under test, in its own process: the standalone server from @falgate/node (built dist), with
// either the undici transport (the Node default) or Node's global fetch, plus the realtime tunnel when
// `tunnelSecret` is given.
import { runChild } from "../lib/child.mjs";
import { distUrl } from "../lib/deps.mjs";

const node = await import(distUrl("node"));

let logged = 0;
// Warnings and errors are shown (a bench that hides failures lies), but only the first few.
const log = (level) => (message, fields) => {
  if (++logged <= 5)
    process.stderr.write(`[proxy ${level}] ${message} ${fields ? JSON.stringify(fields) : ""}\n`);
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
  if (config.tunnelSecret) {
    // startServer attaches the realtime tunnel below its path when falgate token keys are configured.
    options.tokens = { secret: config.tunnelSecret };
    options.tunnel = { maxPerPrincipal: 0 };
  }
  const server = await node.startServer({ ...options, port: 0, host: "127.0.0.1" });
  return {
    info: { url: server.url, path: "/api/fal/proxy", transport: config.transport ?? "undici" },
    close: () => server.close(),
  };
});
