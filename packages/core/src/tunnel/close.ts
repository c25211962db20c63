import type { FalgateError } from "../errors.js";

/** The frame fal sends when a realtime connection is not authorised; the official client refetches a token on it. */
export function unauthorizedFrame(reason: string): string {
  return JSON.stringify({ status: "error", error: "Unauthorized", reason });
}

/** A fal-style error frame (`x-fal-error`); the official client reports it through `onError`. */
export function falErrorFrame(error: string, reason: string): string {
  return JSON.stringify({ type: "x-fal-error", error, reason });
}

/** Close codes falgate uses. */
export const CloseCode = Object.freeze({
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
  badGateway: 1014,
});

/** True for codes an endpoint may put in a close frame (RFC 6455 §7.4, IANA registry). */
export function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999))
  );
}

/**
 * Maps a close code seen on one side to one that can be sent to the other. Reserved codes never go on
 * the wire: 1005 (no status) becomes 1000; 1006/1015 (dropped, TLS failure) become 1011 toward the
 * client (the official client reports any code but 1000 as an error) and 1001 toward fal.
 */
export function mapCloseCode(code: number | undefined, toward: "client" | "upstream"): number {
  if (code === undefined || code === 1005) return CloseCode.normal;
  if (isSendableCloseCode(code)) return code;
  return toward === "client" ? CloseCode.internalError : CloseCode.goingAway;
}

/** Truncates a close reason to the 123 UTF-8 bytes a close frame can carry, without splitting a character. */
export function closeReason(reason: string | undefined): string {
  if (!reason) return "";
  const encoder = new TextEncoder();
  if (encoder.encode(reason).byteLength <= 123) return reason;
  let out = "";
  let size = 0;
  for (const char of reason) {
    const n = encoder.encode(char).byteLength;
    if (size + n > 123) break;
    out += char;
    size += n;
  }
  return out;
}

/** How a refused tunnel is told: the frame to send after accepting, then the close. */
export interface TunnelRefusal {
  frame: string;
  code: number;
  reason: string;
  error: FalgateError;
}

/** The frame-and-close refusal for an error found after the origin check (see docs/realtime.md). */
export function refusalFor(error: FalgateError): TunnelRefusal {
  switch (error.code) {
    case "invalid_token":
    case "forbidden":
    case "unauthenticated":
    case "endpoint_not_allowed":
      // The official client only understands this frame; on it, it drops its token and fetches a new one.
      return {
        frame: unauthorizedFrame(error.message),
        code: CloseCode.policyViolation,
        reason: "Unauthorized",
        error,
      };
    case "rate_limited":
    case "concurrency_limited":
    case "budget_exhausted":
      return {
        frame: falErrorFrame("RATE_LIMITED", error.message),
        code: CloseCode.tryAgainLater,
        reason: error.code === "budget_exhausted" ? "Budget exhausted" : "Too many connections",
        error,
      };
    default:
      return {
        frame: falErrorFrame("INTERNAL_ERROR", error.message),
        code: CloseCode.internalError,
        reason: "Proxy error",
        error,
      };
  }
}
