import type { IncomingMessage, ServerResponse } from "node:http";
import { createFalgate as createCore, type Falgate, type FalgateOptions } from "@falgate/core";
import { toFalgate } from "@falgate/core/binding";
import { createNodeHandler } from "@falgate/node";
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from "fastify";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";
/** Attaches the realtime tunnel to the app's `http.Server` (`app.server`). */
export { attachTunnel, type NodeTunnel } from "@falgate/node";

/** What hooks receive from Fastify: its own request and reply (`request.user`, `request.session`, decorations). */
export interface FastifyContext {
  request: FastifyRequest;
  reply: FastifyReply;
}

/** A Fastify route handler that answers on Node's own objects (the reply is hijacked). */
export type FalgateRouteHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** Options of {@link falgatePlugin}; register it with a `prefix` (the mount path). */
export interface FalgatePluginOptions {
  /** The instance (shared with `attachTunnel`), or options to create one. @default {} */
  falgate?: Falgate<FastifyContext> | FalgateOptions<FastifyContext>;
}

/**
 * Creates the falgate instance of a Fastify app, with hooks typed for Fastify: share it between
 * {@link falgatePlugin} and `attachTunnel`.
 * @example
 * const falgate = createFalgate({ authorize: (request, { request: req }) => (req.user ? { id: req.user.id } : null) });
 */
export function createFalgate(options: FalgateOptions<FastifyContext> = {}): Falgate<FastifyContext> {
  return createCore<FastifyContext>(options);
}

/**
 * Creates the route handler: the reply is hijacked and the request and answer move on `request.raw`/`reply.raw`
 * (undici and Node streams, no Web `Request`/`Response` per call). The body must still be unread, so register it
 * where Fastify's content-type parsers are bypassed: {@link falgatePlugin} does that for you. Reads `process.env`
 * at request time; `options.env` is layered over it.
 */
export function createFalgateHandler(
  falgate: Falgate<FastifyContext> | FalgateOptions<FastifyContext> = {},
): FalgateRouteHandler {
  const calls = new WeakMap<IncomingMessage, FastifyContext>();
  const node = createNodeHandler<FastifyContext, IncomingMessage, ServerResponse>(toFalgate(falgate), {
    context: (req) => calls.get(req)!,
  });
  return (request, reply) => {
    reply.hijack();
    calls.set(request.raw, { request, reply });
    return node(request.raw, reply.raw);
  };
}

/**
 * The fal proxy as an encapsulated Fastify plugin: every method on the prefix and below it (the token route), with
 * Fastify's content-type parsers replaced, in this plugin only, by one that leaves the body unread, so JSON, binary
 * and multipart bodies stream to fal as sent. Hooks of the parent (`onRequest`, `preHandler`: `@fastify/jwt`,
 * sessions) run before it.
 * @example
 * const falgate = createFalgate({ authorize: (request, { request: req }) => req.user ?? null });
 * await app.register(falgatePlugin, { prefix: "/api/fal/proxy", falgate });
 * attachTunnel(app.server, falgate);
 */
export const falgatePlugin: FastifyPluginCallback<FalgatePluginOptions> = (app, options, done) => {
  const handler = createFalgateHandler(options.falgate);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, next) => next(null));
  app.all("/", handler);
  app.all("/*", handler);
  done();
};
