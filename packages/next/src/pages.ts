import type { IncomingMessage, ServerResponse } from "node:http";
import type { FalgateOptions } from "@falgate/core";
import { createNodeFalgate, toNodeHandler } from "@falgate/node";
import { platformEnv } from "./env.js";

export type { FalgateOptions } from "@falgate/core";

/** A Pages Router API route (`NextApiRequest`/`NextApiResponse` extend these Node types). */
export type FalgateApiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * Creates a Pages Router API route for the fal proxy (Node.js runtime). Responses stream through the Node
 * bridge, so SSE is not buffered. The page must disable Next's body parser with a literal (Next reads it
 * statically): `export const config = { api: { bodyParser: false } };` (a parsed JSON body still works,
 * re-encoded, but binary uploads need the raw stream). Reads `process.env` at request time, with `options.env` on top.
 * @example
 * // pages/api/fal/proxy.ts
 * export default createFalgateHandler({ authorize });
 * export const config = { api: { bodyParser: false, responseLimit: false } };
 */
export function createFalgateHandler(options: FalgateOptions = {}): FalgateApiHandler {
  return toNodeHandler(createNodeFalgate({ ...options, env: platformEnv(options.env) }));
}
