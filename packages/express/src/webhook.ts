import type { IncomingMessage, ServerResponse } from "node:http";
import {
  consoleLogger,
  createFalWebhookVerifier,
  FalgateError,
  type FalWebhookOptions,
  type FalWebhookPayload,
} from "@falgate/core";
import { errorResponse } from "@falgate/core/binding";

export type { FalWebhookOptions, FalWebhookPayload } from "@falgate/core";

/** Receives a verified fal webhook; answer with `res`, or return without answering and 204 is sent. */
export type FalWebhookExpressCallback<
  T = unknown,
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
> = (payload: FalWebhookPayload<T>, req: Req, res: Res) => unknown;

/** The Express middleware of a webhook route (assignable to `RequestHandler`). */
export type FalWebhookMiddleware<
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
> = (req: Req, res: Res, next: (error?: unknown) => void) => void;

/**
 * `express.json({ verify: keepRawBody })` keeps the raw bytes on `req.rawBody`, so a webhook route mounted after a
 * global JSON parser can still be verified byte for byte.
 */
export function keepRawBody(req: IncomingMessage, _res: ServerResponse, buf: Buffer): void {
  (req as IncomingMessage & { rawBody?: Buffer }).rawBody = buf;
}

/**
 * Creates the Express middleware of a fal webhook route: verifies the delivery (`verifyFalWebhook`) and hands the
 * parsed payload to `onWebhook`; a refused delivery gets the 401 `invalid_webhook` JSON. It reads the raw body
 * itself; after `express.json()` it needs `express.json({ verify: keepRawBody })` (or `express.raw()`), and says so
 * with a 500 otherwise. Errors thrown by `onWebhook` go to `next(error)`.
 * @example
 * app.post("/api/fal/webhook", createFalWebhookHandler({}, async (event, req, res) => {
 *   if (event.status === "OK") await saveResult(event.request_id, event.payload);
 *   res.sendStatus(204);
 * }));
 */
export function createFalWebhookHandler<
  T = unknown,
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
>(
  options: FalWebhookOptions,
  onWebhook: FalWebhookExpressCallback<T, Req, Res>,
): FalWebhookMiddleware<Req, Res> {
  const verify = createFalWebhookVerifier(options);
  const logger = options.logger ?? consoleLogger();
  return (req, res, next) => {
    const run = async () => {
      let payload: FalWebhookPayload<T>;
      try {
        payload = await verify<T>(toRequest(req));
      } catch (error) {
        if (!(error instanceof FalgateError) || error.code === "internal_error") {
          logger.error("fal webhook route failed", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
        return send(res, errorResponse(error));
      }
      await onWebhook(payload, req, res);
      if (!res.headersSent) res.writeHead(204).end();
    };
    run().catch((error: unknown) => {
      if (!res.headersSent) next(error);
      else res.destroy();
    });
  };
}

/** The delivery as a Fetch `Request` with its raw bytes: the unread stream, or what a body parser kept. */
function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string" && (name.startsWith("x-fal-webhook-") || name === "content-type")) {
      headers.set(name, value);
    }
  }
  const parsed = req as IncomingMessage & { rawBody?: unknown; body?: unknown; _body?: boolean };
  const init: RequestInit & { duplex?: "half" } = { method: req.method ?? "POST", headers };
  if (init.method === "GET" || init.method === "HEAD") return new Request("http://webhook.local/", init);
  if (parsed.rawBody instanceof Uint8Array || typeof parsed.rawBody === "string") {
    init.body = typeof parsed.rawBody === "string" ? parsed.rawBody : new Uint8Array(parsed.rawBody);
  } else if (!(parsed._body === true || req.readableDidRead || req.readableEnded)) {
    const length = req.headers["content-length"];
    if (length !== undefined) headers.set("content-length", length);
    init.body = bodyStream(req);
    init.duplex = "half";
  } else if (parsed.body instanceof Uint8Array) {
    init.body = new Uint8Array(parsed.body); // express.raw()
  } else {
    throw new FalgateError(
      "internal_error",
      "This fal webhook route needs the raw request body, but a body parser already consumed it. Mount the route " +
        "before express.json(), or keep the bytes with express.json({ verify: keepRawBody }) from @falgate/express.",
    );
  }
  return new Request("http://webhook.local/", init);
}

/**
 * The request body as a web stream. Cancelling it (a body over `maxBodySize`) drains the rest instead of destroying
 * the socket, so the 401 still reaches the sender.
 */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let done = false;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const onData = (chunk: Buffer) => {
    controller?.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if ((controller?.desiredSize ?? 1) <= 0) req.pause();
  };
  const finish = (error?: Error) => {
    if (done) return;
    done = true;
    if (error) controller?.error(error);
    else controller?.close();
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      req.on("data", onData);
      req.once("end", () => finish());
      req.once("error", (error) => finish(error));
      req.once("close", () => finish(new Error("the webhook request was aborted")));
    },
    pull() {
      req.resume();
    },
    cancel() {
      done = true;
      req.off("data", onData);
      req.resume();
    },
  });
}

async function send(res: ServerResponse, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = { "content-length": String(body.length) };
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers).end(body);
}
