import {
  consoleLogger,
  createFalWebhookVerifier,
  FalgateError,
  type FalWebhookOptions,
  type FalWebhookPayload,
} from "@falgate/core";
import { errorResponse } from "@falgate/core/binding";

export type { FalWebhookOptions, FalWebhookPayload } from "@falgate/core";

/** Receives a verified fal webhook; return the answer, or nothing for a 204. */
export type FalWebhookNextCallback<T = unknown, R extends Request = Request> = (
  payload: FalWebhookPayload<T>,
  request: R,
  // biome-ignore lint/suspicious/noConfusingVoidType: an async callback that returns nothing is a Promise<void>
) => Response | undefined | Promise<Response | undefined | void>;

/**
 * Creates an App Router `POST` route handler for a fal webhook: verifies the delivery (`verifyFalWebhook`) and hands
 * the parsed payload to `onWebhook`; a refused delivery gets the 401 `invalid_webhook` JSON. Portable (Node.js and
 * Edge runtimes). Errors thrown by `onWebhook` propagate to Next (a 500).
 * @example
 * // app/api/fal/webhook/route.ts
 * export const POST = createFalWebhookHandler({}, async (event) => {
 *   if (event.status === "OK") await saveResult(event.request_id, event.payload);
 * });
 */
export function createFalWebhookHandler<T = unknown, R extends Request = Request>(
  options: FalWebhookOptions,
  onWebhook: FalWebhookNextCallback<T, R>,
): (request: R) => Promise<Response> {
  const verify = createFalWebhookVerifier(options);
  const logger = options.logger ?? consoleLogger();
  return async (request) => {
    let payload: FalWebhookPayload<T>;
    try {
      payload = await verify<T>(request);
    } catch (error) {
      if (!(error instanceof FalgateError) || error.code === "internal_error") {
        logger.error("fal webhook route failed", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return errorResponse(error);
    }
    return (await onWebhook(payload, request)) ?? new Response(null, { status: 204 });
  };
}
