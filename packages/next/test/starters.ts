import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { fetchListener, listen, type StartHandler, silentLogger } from "@falgate/testkit";
import type { NextRequest } from "next/server.js";
import { createFalgateHandler, type FalgateRouteHandlers } from "../src/index.js";
import { createFalgateHandler as createPagesHandler } from "../src/pages.js";

export const PATH = "/api/fal/proxy";

/** The `NextRequest` class of one Next.js release (they differ in type, not in shape). */
export type NextRequestClass = new (input: Request) => Request;

/**
 * Next's `apiResolver` (same positional signature in 14, 15 and 16; their `ApiContext` types differ, so the
 * parameters are declared through a method, which TypeScript checks bivariantly).
 */
export type ApiResolver = {
  resolve(
    req: IncomingMessage,
    res: ServerResponse,
    query: object,
    module: object,
    apiContext: {
      previewModeId: string;
      previewModeEncryptionKey: string;
      previewModeSigningKey: string;
      dev: boolean;
    },
    propagateError: boolean,
    dev?: boolean,
    page?: string,
  ): Promise<void>;
}["resolve"];

/**
 * Serves the route handlers the way Next's router calls them: each request becomes a real `NextRequest` of the
 * given release and goes to the exported function of its method (an unexported method would be Next's 405).
 */
export function appRouterStarter(NextRequest: NextRequestClass): StartHandler {
  return async (options) => {
    const route = createFalgateHandler({ ...options, logger: silentLogger() });
    const dispatch = fetchListener(async (request) => {
      const handler = route[request.method as keyof FalgateRouteHandlers];
      if (!handler) return new Response(null, { status: 405 });
      // A plain Fetch Request first (node-server's lazy request is not one NextRequest can copy), then the
      // release's NextRequest: the handler's NextRequest in shape, only their private types differ.
      const body = request.method === "GET" || request.method === "HEAD" ? null : request.body;
      const plain = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body,
        signal: request.signal,
        ...(body ? { duplex: "half" } : {}),
      } as RequestInit);
      return handler(new NextRequest(plain) as NextRequest);
    });
    const server = await listen(createServer(dispatch));
    return { url: `${server.origin}${PATH}`, close: server.close };
  };
}

const PREVIEW = { previewModeId: "x", previewModeEncryptionKey: "x", previewModeSigningKey: "x" };

/** A real http server that runs the Pages API route through the given release's own API resolver. */
export function pagesStarter(
  apiResolver: ApiResolver,
  config: { api: { bodyParser?: false; responseLimit?: false } },
): StartHandler {
  return async (options) => {
    const module = { default: createPagesHandler({ ...options, logger: silentLogger() }), config };
    const server = await listen(
      createServer((req, res) => {
        void apiResolver(req, res, {}, module, { ...PREVIEW, dev: false }, false, false, PATH);
      }),
    );
    return { url: `${server.origin}${PATH}`, close: server.close };
  };
}
