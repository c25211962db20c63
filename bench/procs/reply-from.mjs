// @fastify/reply-from on Fastify 5 (undici underneath), set up as a user would for a fal proxy: a host
// allowlist on `x-fal-target-url`, the key injected, bodies passed through unparsed (the content-type parsers
// @fastify/http-proxy installs), TLS verification on (reply-from turns it off unless told).

import replyFrom from "@fastify/reply-from";
import Fastify from "fastify";
import { runChild } from "../lib/child.mjs";
import { FAL_HOSTS, falTarget } from "../lib/peers.mjs";

runChild(async ({ upstream, key }) => {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 * 1024 });
  const authorization = `Key ${key}`;
  await app.register(replyFrom, { base: upstream, undici: { tls: { rejectUnauthorized: true } } });
  // Stream every body to fal as it came instead of parsing it (JSON included).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
  app.all("/api/fal/proxy", (request, reply) => {
    const target = falTarget(request.headers["x-fal-target-url"], FAL_HOSTS);
    if (!target) return reply.code(400).send({ error: "target not allowed" });
    return reply.from(target.pathname + target.search, {
      rewriteRequestHeaders: (_request, headers) => {
        const out = { ...headers, authorization, "x-falgate-upstream-host": target.host };
        delete out["x-fal-target-url"];
        return out;
      },
    });
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    info: { url: `http://127.0.0.1:${app.server.address().port}/api/fal/proxy` },
    close: () => app.close(),
  };
});
