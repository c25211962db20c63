export type {
  FalWebhookFailure,
  FalWebhookOptions,
  FalWebhookPayload,
  FalWebhookSuccess,
  FalWebhookVerifier,
} from "./types.js";
export {
  createFalWebhookVerifier,
  FAL_WEBHOOK_HEADERS,
  FAL_WEBHOOK_JWKS_URL,
  verifyFalWebhook,
} from "./verify.js";
