import { decode, encode } from "@msgpack/msgpack";

/** How inputs are sent: binary msgpack frames (fal's default) or JSON text frames. */
export type RealtimeEncoding = "msgpack" | "json";

/** Encodes one input; bytes and strings given as is are sent unchanged, like the official client. */
export function encodeMessage(input: unknown, encoding: RealtimeEncoding): string | Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (encoding === "json") return typeof input === "string" ? input : JSON.stringify(input);
  return encode(input);
}

/** Decodes one frame: text is JSON, binary is msgpack (whatever the encoding of inputs). */
export async function decodeMessage(data: unknown): Promise<unknown> {
  if (typeof data === "string") return JSON.parse(data);
  if (data instanceof ArrayBuffer) return decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (typeof Blob !== "undefined" && data instanceof Blob)
    return decode(new Uint8Array(await data.arrayBuffer()));
  throw new TypeError("Unsupported WebSocket message data");
}

/** What a decoded server frame means. */
export type ServerFrame =
  | { kind: "result"; value: unknown }
  | { kind: "ignore" }
  | { kind: "unauthorized"; reason: string | undefined }
  | { kind: "error"; error: string; reason: string | undefined };

/**
 * Classifies a decoded frame as the official client does: `x-fal-message` is dropped, `x-fal-error`
 * is an error (but `TIMEOUT` only means "idle", so it is dropped too), `{status:"error",error:"Unauthorized"}`
 * means the token was refused; anything else is a result.
 */
export function classifyFrame(value: unknown): ServerFrame {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { kind: "result", value };
  const frame = value as Record<string, unknown>;
  const reason = typeof frame.reason === "string" ? frame.reason : undefined;
  if (frame.status === "error" && frame.error === "Unauthorized") return { kind: "unauthorized", reason };
  if (frame.type === "x-fal-message") return { kind: "ignore" };
  if (frame.type === "x-fal-error") {
    const error = typeof frame.error === "string" ? frame.error : "UNKNOWN";
    return error === "TIMEOUT" ? { kind: "ignore" } : { kind: "error", error, reason };
  }
  if (frame.status === "error") {
    return { kind: "error", error: typeof frame.error === "string" ? frame.error : "UNKNOWN", reason };
  }
  return { kind: "result", value };
}
