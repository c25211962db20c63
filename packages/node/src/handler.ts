import type { IncomingMessage, ServerResponse } from "node:http";
import {
  createFalgate,
  errorResponse,
  type FalgateEnv,
  FalgateError,
  type FalgateHandler,
  type FalgateOptions,
} from "@falgate/core";
import { type BodyState, convertRequest, type NodeRequestOptions } from "./request.js";
import { writeWebResponse } from "./response.js";
import { createUndiciFetch } from "./transport.js";

/** Options of {@link toNodeHandler}. */
export interface NodeHandlerOptions extends NodeRequestOptions {
  /** Env passed to the handler on every request. @default undefined (the handler's own env) */
  env?: FalgateEnv;
}

/**
 * Turns a falgate handler into a Node `(req, res)` listener: `IncomingMessage` → `Request` → handler →
 * `ServerResponse`. A throw becomes the JSON error response; the returned promise never rejects.
 * @example
 * http.createServer(toNodeHandler(createNodeFalgate())).listen(3000);
 */
export function toNodeHandler(
  handler: FalgateHandler,
  options: NodeHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { env, ...requestOptions } = options;
  return async function falgateNodeHandler(req, res) {
    let response: Response;
    let body: BodyState | undefined;
    try {
      const converted = convertRequest(req, res, requestOptions);
      body = converted.body;
      response = await handler(converted.request, env);
    } catch (error) {
      response = errorResponse(error);
    }
    if (body?.tooLarge && response.status !== 413) {
      // Our body cap failed the upstream request; whatever the transport made of that, the cause is a 413.
      await response.body?.cancel().catch(() => undefined);
      response = errorResponse(
        new FalgateError(
          "payload_too_large",
          `Request body exceeds the ${requestOptions.maxBodySize} byte limit of this server.`,
        ),
      );
    }
    await writeWebResponse(res, response);
  };
}

let sharedFetch: ReturnType<typeof createUndiciFetch> | undefined;

/**
 * `createFalgate` with Node defaults: `env` is `process.env` (read when this is called, not at import) and
 * the transport is a shared {@link createUndiciFetch} connection pool. Every option can still be overridden.
 * @example
 * const proxy = createNodeFalgate({ allowedEndpoints: ["fal-ai/flux/*"] });
 * http.createServer(toNodeHandler(proxy)).listen(3000);
 */
export function createNodeFalgate(options: FalgateOptions = {}): FalgateHandler {
  sharedFetch ??= options.fetch ? undefined : createUndiciFetch();
  const fetch = options.fetch ?? sharedFetch!;
  return createFalgate({ ...options, env: options.env ?? process.env, fetch });
}
