import {
  consoleLogger,
  createFalWebhookVerifier,
  FalgateError,
  type FalWebhookOptions,
  type FalWebhookPayload,
} from "@falgate/core";
import { errorResponse } from "@falgate/core/binding";
import type { Context } from "hono";

export type { FalWebhookOptions, FalWebhookPayload } from "@falgate/core";

/** Receives a verified fal webhook; return the answer, or nothing for a 204. */
export type FalWebhookHonoCallback<T = unknown, C extends Context = Context> = (
  payload: FalWebhookPayload<T>,
  c: C,
  // biome-ignore lint/suspicious/noConfusingVoidType: an async callback that returns nothing is a Promise<void>
) => Response | undefined | Promise<Response | undefined | void>;

/**
 * Creates a Hono handler for a fal webhook route: verifies the delivery (`verifyFalWebhook`) and hands the parsed
 * payload to `onWebhook`; a refused delivery gets the 401 `invalid_webhook` JSON. The raw body is read from
 * `c.req.raw`, or from Hono's body cache when a middleware already read it as text or bytes (`c.req.json()` caches
 * the text). Errors thrown by `onWebhook` reach `app.onError`.
 * @example
 * app.post("/api/fal/webhook", createFalWebhookHandler({}, async (event, c) => {
 *   if (event.status === "OK") await saveResult(event.request_id, event.payload);
 *   return c.body(null, 204);
 * }));
 */
export function createFalWebhookHandler<T = unknown, C extends Context = Context>(
  options: FalWebhookOptions,
  onWebhook: FalWebhookHonoCallback<T, C>,
): (c: C) => Promise<Response> {
  const verify = createFalWebhookVerifier(options);
  const logger = options.logger ?? consoleLogger();
  return async (c) => {
    let payload: FalWebhookPayload<T>;
    try {
      payload = await verify<T>(await rawRequest(c));
    } catch (error) {
      if (!(error instanceof FalgateError) || error.code === "internal_error") {
        logger.error("fal webhook route failed", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return errorResponse(error);
    }
    return (await onWebhook(payload, c)) ?? new Response(null, { status: 204 });
  };
}

// A middleware that read the body leaves its bytes (or text) in Hono's cache; a parsed-only cache cannot give the
// signed bytes back.
async function rawRequest(c: Context): Promise<Request> {
  const raw = c.req.raw;
  if (!raw.bodyUsed) return raw;
  const cache = c.req.bodyCache;
  const body = (await cache.arrayBuffer) ?? (await cache.text) ?? (await cache.blob);
  if (body === undefined) {
    throw new FalgateError(
      "internal_error",
      "This fal webhook route needs the raw request body, but it was consumed without keeping its bytes; read it " +
        "with c.req.text()/c.req.json() (cached), or not at all, before the webhook handler.",
    );
  }
  const headers = new Headers(raw.headers);
  headers.delete("content-length");
  return new Request(raw.url, { method: raw.method, headers, body });
}
