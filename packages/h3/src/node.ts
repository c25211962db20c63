import { IncomingMessage, type ServerResponse } from "node:http";
import type { Falgate, FalgateOptions } from "@falgate/core";
import { toFalgate } from "@falgate/core/binding";
import { createNodeHandler } from "@falgate/node";
import { defineEventHandler, type EventHandler, type EventHandlerRequest, type H3Event } from "h3";
import { createFalgateHandler as createWebHandler, type H3Context } from "./index.js";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";
export { createFalgate, type H3Context } from "./index.js";

/** An h3 event handler that has answered on Node's response itself, or hands back the Web `Response`. */
export type FalgateNodeEventHandler = EventHandler<EventHandlerRequest, Promise<Response | undefined>>;

// Where h3 1.x keeps the body `readRawBody`/`readBody` read from the stream.
const RAW_BODY = Symbol.for("h3RawBody");

/**
 * The h3 event handler for a Node server (Nitro's `node-server` preset: `node .output/server/index.mjs`, and
 * `toNodeListener` apps): the request is read and the answer written on `event.node.req`/`event.node.res` (undici
 * and Node streams, no Web `Request`/`Response` per call). The event is marked handled, as h3's own `send*`
 * helpers do, so neither h3 nor Nitro writes after it. Where the event is not backed by a Node socket (Nitro's
 * in-process `$fetch`, Workers, Deno, Bun presets) it is the Web handler of `@falgate/h3`.
 * @example
 * // server/api/fal/proxy/[...path].ts (Nuxt on Node)
 * export default createFalgateHandler({ authorize: (request, { event }) => event.context.user ?? null });
 */
export function createFalgateHandler(
  falgate: Falgate<H3Context> | FalgateOptions<H3Context> = {},
): FalgateNodeEventHandler {
  const instance = toFalgate(falgate);
  const web = createWebHandler(instance);
  const calls = new WeakMap<IncomingMessage, { event: H3Event; kept: Uint8Array | undefined }>();
  const node = createNodeHandler<H3Context, IncomingMessage, ServerResponse>(instance, {
    context: (req) => ({ event: calls.get(req)!.event }),
    keptBody: (req) => calls.get(req)?.kept,
  });
  return defineEventHandler(async (event) => {
    const { req, res } = event.node;
    if (!(req instanceof IncomingMessage) || event.web?.request) return web(event);
    // A handler before this one read the body (`readBody`, `readRawBody`): h3 kept the bytes as sent.
    const read = (req as unknown as Record<symbol, Promise<Buffer | undefined> | undefined>)[RAW_BODY];
    const kept = read ? ((await read) ?? new Uint8Array(0)) : undefined;
    calls.set(req, { event, kept });
    event._handled = true;
    await node(req, res);
    return undefined;
  });
}
