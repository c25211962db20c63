import { FalgateError, isFalgateError } from "../errors.js";

/** An answer falgate gives itself (a refusal, a preflight, a minted token): status, headers and a small body. */
export interface Reply {
  status: number;
  /** Header pairs, lower-case names; a name may repeat. */
  headers: Array<[string, string]>;
  body: string | null;
}

/** A JSON reply (`cache-control: no-store`). */
export function jsonReply(status: number, value: unknown, headers: Array<[string, string]> = []): Reply {
  return {
    status,
    headers: [["content-type", "application/json; charset=utf-8"], ["cache-control", "no-store"], ...headers],
    body: JSON.stringify(value),
  };
}

/** The JSON reply for an error (anything not a `FalgateError` becomes `internal_error`), plus `extra` headers. */
export function errorReply(error: unknown, extra: Array<[string, string]> = []): Reply {
  const err = isFalgateError(error) ? error : new FalgateError("internal_error", "Internal proxy error.");
  return jsonReply(err.status, err.toJSON(), [...extra, ...Object.entries(err.headers)]);
}

/** Renders a reply as a Fetch `Response`. */
export function toResponse(reply: Reply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}

/** The JSON `Response` for an error (see {@link errorReply}). */
export function errorResponse(error: unknown, extra: Array<[string, string]> = []): Response {
  return toResponse(errorReply(error, extra));
}
