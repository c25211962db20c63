// The bare Node pass-through: node:http in, one pooled undici `request` out, both bodies piped, the key
// injected, no policy (any target path, no header hygiene beyond the hop-by-hop headers HTTP/1.1 requires).
// What any Node proxy on undici pays at least; falgate's checks and adapters come on top of it. The Express
// variant is the same function mounted in Express: what any proxy pays there.
import { once } from "node:events";
import { createServer } from "node:http";
import { pipeline } from "node:stream";
import { Pool } from "undici";
import { runChild } from "../lib/child.mjs";
import { HOP_BY_HOP } from "../lib/hop.mjs";

/** Starts the pass-through on node:http, or (`variant: "express"`) as one Express 5 middleware: Express's floor. */
async function listen(variant, handle) {
  if (variant !== "express") return createServer(handle).listen(0, "127.0.0.1");
  const { default: express } = await import("express");
  const app = express();
  app.use("/api/fal/proxy", handle);
  return app.listen(0, "127.0.0.1");
}

runChild(async ({ upstream, key, variant }) => {
  const pool = new Pool(upstream, { connections: 256 });
  const authorization = `Key ${key}`;
  const server = await listen(variant, async (req, res) => {
    const target = new URL(String(req.headers["x-fal-target-url"]));
    const headers = { ...req.headers, authorization, "x-falgate-upstream-host": target.host };
    delete headers.host;
    delete headers["x-fal-target-url"];
    for (const name of HOP_BY_HOP) delete headers[name];
    const hasBody =
      req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    try {
      const answer = await pool.request({
        path: target.pathname + target.search,
        method: req.method,
        headers,
        body: hasBody ? req : null,
      });
      for (const name of HOP_BY_HOP) delete answer.headers[name];
      res.writeHead(answer.statusCode, answer.headers);
      pipeline(answer.body, res, () => undefined);
    } catch {
      res.destroy();
    }
  });
  // `listening` may already have fired while listen() was awaited.
  if (!server.listening) await once(server, "listening");
  return {
    info: { url: `http://127.0.0.1:${server.address().port}/api/fal/proxy` },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await pool.close();
    },
  };
});
