/** Why a token request or a realtime connection failed. */
export type RealtimeErrorKind =
  /** The token route refused or failed (`code` is falgate's error code, `status` the HTTP status). */
  | "token"
  /** The server sent `{"status":"error","error":"Unauthorized"}` (bad, expired or reused token). */
  | "unauthorized"
  /** The server sent an `x-fal-error` frame (`code` is fal's error, e.g. `INTERNAL_ERROR`, `RATE_LIMITED`). */
  | "server"
  /** The connection closed with a code other than 1000 (`closeCode`; `code` is `closed_<closeCode>`). */
  | "closed"
  /** A message could not be decoded (neither JSON text nor msgpack). */
  | "decode";

/** Details of a {@link FalgateRealtimeError}. */
export interface RealtimeErrorDetails {
  status?: number;
  closeCode?: number;
  willRetry?: boolean;
  body?: unknown;
  cause?: unknown;
}

/** An error reported by a token provider or through `connectRealtime`'s `onError`. */
export class FalgateRealtimeError extends Error {
  override readonly name = "FalgateRealtimeError";
  /** What failed. */
  readonly kind: RealtimeErrorKind;
  /** A machine-readable code: falgate's (`unauthenticated`, `endpoint_not_allowed`...) or fal's (`INTERNAL_ERROR`). */
  readonly code: string;
  /** HTTP status of a failed token request. */
  readonly status: number | undefined;
  /** WebSocket close code, for `closed`. */
  readonly closeCode: number | undefined;
  /** True when `connectRealtime` will try again by itself (reconnect with a fresh token). */
  readonly willRetry: boolean;
  /** The decoded server frame or error body, when there was one. */
  readonly body: unknown;

  constructor(kind: RealtimeErrorKind, code: string, message: string, details: RealtimeErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    this.code = code;
    this.status = details.status;
    this.closeCode = details.closeCode;
    this.willRetry = details.willRetry ?? false;
    this.body = details.body;
  }

  /** A copy with `willRetry` set (the realtime loop decides it after the error is built). */
  withRetry(willRetry: boolean): FalgateRealtimeError {
    return new FalgateRealtimeError(this.kind, this.code, this.message, {
      status: this.status,
      closeCode: this.closeCode,
      willRetry,
      body: this.body,
      cause: this.cause,
    });
  }
}

/** True for a {@link FalgateRealtimeError} (also across bundle copies). */
export function isFalgateRealtimeError(value: unknown): value is FalgateRealtimeError {
  return (
    value instanceof Error && value.name === "FalgateRealtimeError" && "kind" in value && "code" in value
  );
}
