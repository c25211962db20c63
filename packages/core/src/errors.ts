/**
 * The closed set of error codes falgate answers with. Each code has one HTTP status
 * (see {@link STATUS_BY_CODE}) and one anchor in `docs/errors.md`.
 */
export type FalgateErrorCode =
  | "missing_target"
  | "invalid_target"
  | "target_not_allowed"
  | "endpoint_not_allowed"
  | "webhook_not_allowed"
  | "origin_not_allowed"
  | "host_not_allowed"
  | "unauthenticated"
  | "forbidden"
  | "invalid_token"
  | "invalid_webhook"
  | "method_not_allowed"
  | "invalid_body"
  | "invalid_handshake"
  | "payload_too_large"
  | "rate_limited"
  | "concurrency_limited"
  | "budget_exhausted"
  | "limits_unavailable"
  | "auth_unavailable"
  | "missing_credentials"
  | "upstream_unreachable"
  | "upstream_error"
  | "upstream_timeout"
  | "not_found"
  | "internal_error";

/** The one code → HTTP status table. */
export const STATUS_BY_CODE: Readonly<Record<FalgateErrorCode, number>> = Object.freeze({
  missing_target: 400,
  invalid_target: 400,
  invalid_body: 400,
  invalid_handshake: 400,
  unauthenticated: 401,
  invalid_token: 401,
  invalid_webhook: 401,
  target_not_allowed: 403,
  endpoint_not_allowed: 403,
  webhook_not_allowed: 403,
  origin_not_allowed: 403,
  host_not_allowed: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  rate_limited: 429,
  concurrency_limited: 429,
  budget_exhausted: 429,
  missing_credentials: 500,
  internal_error: 500,
  upstream_unreachable: 502,
  upstream_error: 502,
  limits_unavailable: 503,
  auth_unavailable: 503,
  upstream_timeout: 504,
});

/** The JSON body of every error falgate itself produces. */
export interface FalgateErrorBody {
  error: { code: FalgateErrorCode; message: string };
  /** Mirrors `error.message` so `@fal-ai/client`'s `ApiError.message` is readable. */
  message: string;
}

/** The single error type of falgate: a stable `code`, its HTTP `status`, and a message safe to show. */
export class FalgateError extends Error {
  override readonly name = "FalgateError";
  readonly code: FalgateErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. `retry-after`, `allow`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: FalgateErrorCode,
    message: string,
    options: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = STATUS_BY_CODE[code];
    this.headers = Object.freeze({ ...(options.headers ?? {}) });
  }

  /** The JSON body sent for this error. */
  toJSON(): FalgateErrorBody {
    return { error: { code: this.code, message: this.message }, message: this.message };
  }
}

/** True when `value` is a {@link FalgateError}, across package copies. */
export function isFalgateError(value: unknown): value is FalgateError {
  return (
    value instanceof FalgateError ||
    (typeof value === "object" &&
      value !== null &&
      (value as { name?: unknown }).name === "FalgateError" &&
      typeof (value as { code?: unknown }).code === "string" &&
      Object.hasOwn(STATUS_BY_CODE, (value as { code: string }).code))
  );
}
