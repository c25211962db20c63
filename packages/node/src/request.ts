import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { FalgateError, methodNotAllowed } from "@falgate/core";
import { readableToWeb } from "./streams.js";

/** Options of the Node → Web request conversion. */
export interface NodeRequestOptions {
  /**
   * Largest request body in bytes, enforced on `content-length` up front and while streaming
   * (`payload_too_large`, 413). `0` disables the cap.
   * @default 0 (the core applies its own `maxBodySize`)
   */
  maxBodySize?: number;
  /** Build `request.url` from `x-forwarded-proto` / `x-forwarded-host` (only behind a proxy you control). @default false */
  trustProxy?: boolean;
}

/** What the bridge knows about a request body after conversion (shared with the Node handler). */
export interface BodyState {
  /** Set when the streamed body passed `maxBodySize`. */
  tooLarge: boolean;
}

/** An `IncomingMessage` as Express and friends leave it after body parsing. */
type ParsedIncomingMessage = IncomingMessage & { body?: unknown; _body?: boolean; originalUrl?: string };

const NO_BODY = new Set(["GET", "HEAD"]);
// Methods the Fetch API refuses to represent (Node hands CONNECT to its own event, but TRACE/TRACK arrive here).
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * Converts a Node request into a Web `Request`: absolute URL, every header, an `AbortSignal` that fires when
 * the client goes away before the response finished, and the body (re-encoded if a body parser already ran,
 * otherwise streamed with back-pressure). Throws a `FalgateError` (`payload_too_large`, `method_not_allowed`)
 * when the request cannot be accepted at all; a streamed body past `maxBodySize` errors the body stream instead.
 * @example
 * const request = toWebRequest(req, res, { maxBodySize: 1 << 20 });
 */
export function toWebRequest(
  req: IncomingMessage,
  res: ServerResponse,
  options: NodeRequestOptions = {},
): Request {
  return convertRequest(req, res, options).request;
}

/** {@link toWebRequest} plus the body state, for adapters that want to know why a body failed. */
export function convertRequest(
  req: IncomingMessage,
  res: ServerResponse,
  options: NodeRequestOptions = {},
): { request: Request; body: BodyState } {
  const max = options.maxBodySize ?? 0;
  const method = (req.method ?? "GET").toUpperCase();
  if (FORBIDDEN_METHODS.has(method)) {
    throw methodNotAllowed(method);
  }
  const headers = copyHeaders(req);
  const state: BodyState = { tooLarge: false };

  const controller = new AbortController();
  if (res.destroyed && !res.writableFinished) controller.abort();
  else {
    res.once("close", () => {
      if (!res.writableFinished) controller.abort();
    });
  }

  const init: RequestInit & { duplex?: "half" } = { method, headers, signal: controller.signal };
  if (!NO_BODY.has(method)) {
    const parsed = parsedBody(req as ParsedIncomingMessage, headers);
    if (parsed !== undefined) {
      // The parser consumed (and possibly inflated) the original bytes: describe the re-encoded ones.
      headers.delete("content-encoding");
      headers.delete("transfer-encoding");
      if (parsed === null) headers.delete("content-length");
      else headers.set("content-length", String(parsed.byteLength));
      if (parsed !== null && max > 0 && parsed.byteLength > max) throw tooLarge(max);
      init.body = parsed as Uint8Array<ArrayBuffer> | null;
    } else {
      const declared = Number(req.headers["content-length"]);
      if (max > 0 && Number.isFinite(declared) && declared > max) {
        state.tooLarge = true;
        throw tooLarge(max);
      }
      if (hasBody(req)) {
        let bytes = 0;
        init.body = readableToWeb(req, {
          onChunk: (chunk) => {
            bytes += chunk.byteLength;
            if (max > 0 && bytes > max) {
              state.tooLarge = true;
              return tooLarge(max);
            }
            return undefined;
          },
          // Never destroy the socket here: the response (a 413, a 502) still has to reach the client.
          // The response writer closes the connection when the request body was not read to the end.
          onCancel: () => undefined,
        });
        init.duplex = "half";
      }
    }
  }
  return { request: new Request(requestUrl(req, options.trustProxy === true), init), body: state };
}

function tooLarge(max: number): FalgateError {
  return new FalgateError("payload_too_large", `Request body exceeds the ${max} byte limit of this server.`);
}

function copyHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* ":" HTTP/2 pseudo-header */) continue;
    try {
      // Repeated Cookie lines (HTTP/2 splits them) are joined with "; " by Node's (undici's) Headers itself.
      headers.append(name, raw[i + 1]!);
    } catch {
      // A header value the Fetch API rejects cannot be represented; it is not one falgate reads.
    }
  }
  return headers;
}

/** True unless the request certainly carries no body (HTTP/1.1 without length or chunked encoding). */
function hasBody(req: IncomingMessage): boolean {
  if (req.readableEnded) return false;
  return declaresBody(req);
}

/** True when the request's framing announces body bytes (a positive length, chunked, or HTTP/2). */
function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  if (length !== undefined) return Number(length) > 0;
  return req.headers["transfer-encoding"] !== undefined || req.httpVersionMajor >= 2;
}

/**
 * The body a body parser left on `req.body`, re-encoded (with `content-type` relabelled to match), or
 * `undefined` when the raw stream is still unread.
 * `null` means the stream was consumed but nothing usable was left behind.
 */
function parsedBody(req: ParsedIncomingMessage, headers: Headers): Uint8Array | null | undefined {
  const consumed = req._body === true || req.readableDidRead || req.readableEnded;
  if (!consumed) return undefined;
  // Parsers leave `{}` behind for body-less requests (an empty queue-cancel PUT): that is no body, not "{}".
  if (!declaresBody(req)) return null;
  const body = req.body;
  if (body === undefined || (body === null && req._body !== true)) return null;
  if (body instanceof Uint8Array) return body;
  const type = headers.get("content-type") ?? "";
  if (typeof body === "string") {
    // text() decoded the bytes with the declared charset: they leave as UTF-8, labelled so.
    labelUtf8(headers, type);
    return Buffer.from(body, "utf8");
  }
  if (FORM_TYPE.test(type) && isRecord(body)) {
    labelUtf8(headers, type);
    return Buffer.from(encodeForm(body), "utf8");
  }
  // A parsed JSON body keeps its (JSON) type; any other object a parser produced is sent as JSON, and says so.
  if (JSON_TYPE.test(type)) labelUtf8(headers, type);
  else headers.set("content-type", "application/json");
  return Buffer.from(JSON.stringify(body) ?? "null", "utf8");
}

const FORM_TYPE = /^\s*application\/x-www-form-urlencoded\s*(;|$)/i;
const JSON_TYPE = /^\s*application\/([\w.-]+\+)?json\s*(;|$)/i;

function isRecord(body: unknown): body is Record<string, unknown> {
  return typeof body === "object" && body !== null && !Array.isArray(body);
}

/** Rewrites a non-UTF-8 `charset` parameter of the content type to utf-8 (re-encoded bodies are UTF-8). */
function labelUtf8(headers: Headers, type: string): void {
  const relabelled = type.replace(
    /(;\s*charset\s*=\s*)("[^"]*"|[^;\s]*)/i,
    (param, prefix: string, value: string) => (/^"?utf-?8"?$/i.test(value) ? param : `${prefix}utf-8`),
  );
  if (relabelled !== type) headers.set("content-type", relabelled);
}

/**
 * A parsed form, encoded back: a field repeated in the request (`a=1&a=2`, an array of strings with either
 * parser) is repeated again; nested values from `extended: true` (qs) use brackets (`a[b]=1`, `a[0]=x`).
 */
function encodeForm(body: Record<string, unknown>): string {
  const form = new URLSearchParams();
  const add = (key: string, value: unknown): void => {
    if (typeof value === "object" && value !== null) {
      // Arrays too: their entries are [index, item], giving `a[0]=x`.
      for (const [name, item] of Object.entries(value)) add(`${key}[${name}]`, item);
    } else form.append(key, value === undefined || value === null ? "" : String(value));
  };
  for (const [key, value] of Object.entries(body)) {
    // A one-item array can only come from brackets (`a[]=x`): the index form keeps it an array.
    const repeated =
      Array.isArray(value) && value.length > 1 && value.every((item) => typeof item === "string");
    if (repeated) for (const item of value) form.append(key, item);
    else add(key, value);
  }
  return form.toString();
}

function requestUrl(req: ParsedIncomingMessage, trustProxy: boolean): string {
  const encrypted = (req.socket as Partial<TLSSocket> | null)?.encrypted === true;
  let proto = encrypted ? "https" : "http";
  let host = req.headers.host ?? header(req, ":authority");
  if (trustProxy) {
    const fwdProto = firstValue(header(req, "x-forwarded-proto"));
    if (fwdProto === "http" || fwdProto === "https") proto = fwdProto;
    host = firstValue(header(req, "x-forwarded-host")) ?? host;
  }
  // Express rewrites req.url under a mount path; originalUrl is what the client asked for.
  let path = typeof req.originalUrl === "string" ? req.originalUrl : (req.url ?? "/");
  if (!path.startsWith("/")) {
    // Absolute-form request target (`GET http://host/path`): keep only path and query.
    try {
      const absolute = new URL(path);
      path = absolute.pathname + absolute.search;
    } catch {
      path = "/";
    }
  }
  const fallbackHost = req.socket?.localPort ? `localhost:${req.socket.localPort}` : "localhost";
  for (const candidate of [host, fallbackHost]) {
    if (!candidate || /[\s/\\?#@]/.test(candidate)) continue;
    try {
      return new URL(`${proto}://${candidate}${path}`).href;
    } catch {
      // An unusable Host header: fall back to the socket's own address.
    }
  }
  return new URL(`${proto}://localhost${path}`).href;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function firstValue(value: string | undefined): string | undefined {
  const first = value?.split(",")[0]?.trim();
  return first ? first : undefined;
}
