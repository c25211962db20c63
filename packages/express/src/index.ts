import { createFalgate as createCore, type Falgate, type FalgateOptions } from "@falgate/core";
import { isFalgate } from "@falgate/core/binding";
import { createNodeHandler } from "@falgate/node";
import type { NextFunction, Request, Response } from "express";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";
/** Attaches the realtime tunnel to the `http.Server` of the Express app (`app.listen()` returns it). */
export { attachTunnel, type NodeTunnel } from "@falgate/node";
export {
  createFalWebhookHandler,
  type FalWebhookExpressCallback,
  type FalWebhookMiddleware,
  type FalWebhookOptions,
  type FalWebhookPayload,
  keepRawBody,
} from "./webhook.js";

/** What hooks receive from Express: its own request and response (`req.session`, `req.user` included). */
export interface ExpressContext {
  req: Request;
  res: Response;
}

/** An Express middleware (Express 4 and 5). */
export type FalgateMiddleware = (req: Request, res: Response, next: NextFunction) => void;

/**
 * Creates the falgate instance of an Express app, with hooks typed for Express: share it between
 * {@link createFalgateHandler} and `attachTunnel`.
 * @example
 * const falgate = createFalgate({ authorize: (request, { req }) => (req.user ? { id: req.user.id } : null) });
 */
export function createFalgate(options: FalgateOptions<ExpressContext> = {}): Falgate<ExpressContext> {
  return createCore<ExpressContext>(options);
}

/**
 * Creates the Express middleware for the fal proxy. It always answers (it never calls `next()` to fall through),
 * works with or without `express.json()` before it, and reads `process.env` at request time (`options.env` is
 * layered over it). Hooks get Express's `{ req, res }`.
 * @example
 * app.use("/api/fal/proxy", createFalgateHandler({ authorize: (request, { req }) => req.user && { id: req.user.id } }));
 */
export function createFalgateHandler(
  falgate: Falgate<ExpressContext> | FalgateOptions<ExpressContext> = {},
): FalgateMiddleware {
  const instance = isFalgate(falgate) ? (falgate as Falgate<ExpressContext>) : createFalgate(falgate);
  const handler = createNodeHandler<ExpressContext, Request, Response>(instance, {
    context: (req, res) => ({ req, res }),
  });
  return (req, res, next) => {
    // The binding answers every error itself; this catch is for the unforeseen, and hands it to Express's error
    // middleware only while nothing has been sent.
    handler(req, res).catch((error: unknown) => {
      if (!res.headersSent) next(error);
      else res.destroy();
    });
  };
}
