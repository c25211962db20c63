// The floor: a bare node:http pass-through (no policy, no Web Request/Response, no header hygiene) with a
// keep-alive agent. Whatever falgate costs above this is the price of its checks and of the Web APIs.
import { once } from "node:events";
import { Agent, createServer, request } from "node:http";
import { runChild } from "../lib/child.mjs";

runChild(async ({ upstream, key }) => {
  const origin = new URL(upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer((req, res) => {
    const target = new URL(String(req.headers["x-fal-target-url"]));
    const headers = { ...req.headers, authorization: `Key ${key}`, "x-falgate-upstream-host": target.host };
    delete headers["x-fal-target-url"];
    delete headers.host;
    delete headers.connection;
    const out = request(
      {
        host: origin.hostname,
        port: origin.port,
        method: req.method,
        path: target.pathname + target.search,
        headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    res.on("close", () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    info: { url: `http://127.0.0.1:${server.address().port}`, path: "/" },
    close: () => {
      server.closeAllConnections();
      agent.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
});
