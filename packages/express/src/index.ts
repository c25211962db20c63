import type { IncomingMessage, ServerResponse } from "node:http";
import type { FalgateEnv, FalgateOptions } from "@falgate/core";
import { createNodeFalgate, toNodeHandler } from "@falgate/node";

export type { FalgateOptions } from "@falgate/core";
/** Attaches the realtime tunnel to the `http.Server` of the Express app (`app.listen()` returns it). */
export { attachTunnel, type NodeTunnel, type NodeTunnelOptions } from "@falgate/node";
export {
  createFalWebhookHandler,
  type FalWebhookExpressCallback,
  type FalWebhookMiddleware,
  type FalWebhookOptions,
  type FalWebhookPayload,
  keepRawBody,
} from "./webhook.js";

/** Options of the Express adapter: every core option plus how to read the request URL. */
export interface FalgateExpressOptions extends FalgateOptions {
  /**
   * Build the request URL (used by the same-origin check) from `x-forwarded-proto` / `x-forwarded-host`.
   * Only behind a reverse proxy you control. @default false
   */
  trustProxy?: boolean;
}

/**
 * An Express middleware (Express 4 and 5). Typed with Node's request/response so it needs no Express types;
 * it is assignable to `RequestHandler`.
 */
export type FalgateMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Creates the Express middleware for the fal proxy. It always answers (it never calls `next()` to fall through),
 * works with or without `express.json()` before it, and reads `process.env` at request time (`options.env`, when
 * given, is layered on top).
 * The realtime tunnel attaches to the same `http.Server` (`attachTunnel(server, ...)` from `@falgate/node`).
 * @example
 * app.use("/api/fal/proxy", createFalgateHandler({ authorize: (req) => sessionPrincipal(req) }));
 */
export function createFalgateHandler(options: FalgateExpressOptions = {}): FalgateMiddleware {
  const { trustProxy, env, ...falgateOptions } = options;
  // `env` goes on top of the live process.env (a prototype link, so later changes to process.env still count).
  const layered = env ? Object.assign(Object.create(process.env) as FalgateEnv, env) : undefined;
  const handler = createNodeFalgate({ ...falgateOptions, ...(layered ? { env: layered } : {}) });
  const listener = toNodeHandler(handler, { trustProxy: trustProxy === true });
  return (req, res, next) => {
    // The bridge answers every error itself; this catch is for the unforeseen, and hands it to Express's error
    // middleware only while nothing has been sent.
    listener(req, res).catch((error: unknown) => {
      if (!res.headersSent) next(error);
      else res.destroy();
    });
  };
}
