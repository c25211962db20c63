import { createFalgate as createCore, type Falgate, type FalgateOptions } from "@falgate/core";
import { createNodeHandler } from "@falgate/node";
import type { NextApiRequest, NextApiResponse } from "next";

export type { Falgate, FalgateOptions, Principal } from "@falgate/core";

/** What hooks receive from a Pages Router API route: Next's own request and response. */
export interface NextPagesContext {
  req: NextApiRequest;
  res: NextApiResponse;
}

/**
 * Creates the falgate instance of a Pages Router API route, with hooks typed for it (share it with `attachTunnel`
 * in a custom server).
 * @example
 * export const falgate = createFalgate({ authorize: (request, { req }) => userFrom(req.cookies) });
 */
export function createFalgate(options: FalgateOptions<NextPagesContext> = {}): Falgate<NextPagesContext> {
  return createCore<NextPagesContext>(options);
}

/** A Pages Router API route. */
export type FalgateApiHandler = (req: NextApiRequest, res: NextApiResponse) => Promise<void>;

/**
 * Creates a Pages Router API route for the fal proxy (Node.js runtime), on the native Node binding: bodies stream
 * both ways (SSE is not buffered). Disable Next's body parser with a literal (Next reads it statically):
 * `export const config = { api: { bodyParser: false } };` (a parsed JSON body still works, re-encoded, but binary
 * uploads need the raw stream). The platform env is `process.env`, read at request time.
 * @example
 * // pages/api/fal/proxy/[[...path]].ts
 * export default createFalgateHandler({ authorize: (request, { req }) => userFrom(req.cookies) });
 * export const config = { api: { bodyParser: false, responseLimit: false } };
 */
export function createFalgateHandler(
  falgate: Falgate<NextPagesContext> | FalgateOptions<NextPagesContext> = {},
): FalgateApiHandler {
  return createNodeHandler<NextPagesContext, NextApiRequest, NextApiResponse>(falgate, {
    context: (req, res) => ({ req, res }),
  });
}
