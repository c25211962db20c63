// http-proxy-middleware 3 on Express 5 with a keep-alive agent (Node's https agent: without keep-alive every
// call would pay a TLS handshake), set up as a user would for a fal proxy: a host allowlist on
// `x-fal-target-url`, `router` from the fal host to its origin (the loopback upstream here, `https://<host>` in
// production), the target's path, and the key injected.
import https from "node:https";
import express from "express";
import { createProxyMiddleware } from "http-proxy-middleware";
import { runChild } from "../lib/child.mjs";
import { FAL_HOSTS, falTarget } from "../lib/peers.mjs";

runChild(async ({ upstream, key }) => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 256 });
  const authorization = `Key ${key}`;
  const origins = Object.fromEntries([...FAL_HOSTS].map((host) => [host, upstream]));
  const app = express();
  app.use(
    "/api/fal/proxy",
    (req, res, next) => {
      const target = falTarget(req.headers["x-fal-target-url"], FAL_HOSTS);
      if (!target) return res.status(400).json({ error: "target not allowed" });
      req.falTarget = target;
      next();
    },
    createProxyMiddleware({
      target: upstream,
      router: (req) => origins[req.falTarget.hostname],
      pathRewrite: (_path, req) => req.falTarget.pathname + req.falTarget.search,
      changeOrigin: true,
      secure: true,
      agent,
      on: {
        proxyReq: (proxyReq, req) => {
          proxyReq.setHeader("authorization", authorization);
          proxyReq.setHeader("x-falgate-upstream-host", req.falTarget.host);
          proxyReq.removeHeader("x-fal-target-url");
        },
        error: (_error, _req, res) => {
          // `res` is a socket for upgrades; for HTTP a 502 when nothing was sent yet.
          if (typeof res.writeHead === "function" && !res.headersSent) res.writeHead(502).end();
          else res.destroy();
        },
      },
    }),
  );
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve, reject) => server.once("listening", resolve).once("error", reject));
  return {
    info: { url: `http://127.0.0.1:${server.address().port}/api/fal/proxy` },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
});
