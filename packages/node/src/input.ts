import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { bodyTooLarge, type CallInput } from "@falgate/core/binding";

/** An `IncomingMessage` as Express and friends leave it after body parsing. */
export type ParsedIncomingMessage = IncomingMessage & {
  body?: unknown;
  _body?: boolean;
  originalUrl?: string;
};

/**
 * The pipeline's view of a Node request, built without a Fetch `Request`: headers are read from `req.headers`,
 * the URL is only assembled when asked for, and the `Request` handed to hooks is built on first access (without a
 * body). When a body parser already consumed the stream (`express.json()`, Next's parser), the parsed body is
 * re-encoded once and the content headers describe the re-encoded bytes.
 */
export class NodeInput implements CallInput {
  readonly method: string;
  /** The re-encoded body a parser left behind, `null` when the stream was consumed with nothing usable left, `undefined` when unread. */
  readonly parsed: Uint8Array | null | undefined;
  private overrides: Record<string, string | null> | undefined;
  private cachedUrl: string | undefined;
  private cachedRequest: Request | undefined;

  constructor(
    readonly req: ParsedIncomingMessage,
    private readonly trustProxy: boolean,
    /** A body the framework kept when it consumed the stream itself (Hono's body cache), read when needed. */
    keptBody?: Uint8Array | null,
  ) {
    this.method = (req.method ?? "GET").toUpperCase();
    const consumed = req._body === true || req.readableDidRead || req.readableEnded;
    if (consumed && this.method !== "GET" && this.method !== "HEAD") {
      this.overrides = {};
      this.parsed = keptBody !== undefined ? keptBody : parsedBody(req, this.overrides);
      if (this.parsed === null) this.overrides["content-length"] = null;
      else this.overrides["content-length"] = String(this.parsed.byteLength);
      this.overrides["transfer-encoding"] = null;
      this.overrides["content-encoding"] = null;
    }
  }

  get url(): string {
    this.cachedUrl ??= requestUrl(this.req, this.trustProxy);
    return this.cachedUrl;
  }

  header(name: string): string | null {
    if (this.overrides !== undefined && name in this.overrides) return this.overrides[name] ?? null;
    const value = this.req.headers[name];
    if (value === undefined) return null;
    return typeof value === "string" ? value : value.join(", ");
  }

  /** Every request header as {@link header} gives it (the families of `forwardHeaders` are matched on these). */
  forEachHeader(fn: (name: string, value: string) => void): void {
    const headers = this.req.headers;
    const overrides = this.overrides;
    for (const name in headers) {
      if (name.charCodeAt(0) === 58 /* ":" */) continue;
      if (overrides !== undefined && name in overrides) continue;
      const value = headers[name];
      if (value !== undefined) fn(name, typeof value === "string" ? value : value.join(", "));
    }
    if (overrides === undefined) return;
    for (const [name, value] of Object.entries(overrides)) if (value !== null) fn(name, value);
  }

  get request(): Request {
    this.cachedRequest ??= lazyRequest(
      () => new Request(this.url, { method: this.method, headers: this.headers() }),
    );
    return this.cachedRequest;
  }

  async readBody(limit: number): Promise<Uint8Array> {
    if (this.parsed !== undefined) {
      const bytes = this.parsed ?? new Uint8Array(0);
      if (bytes.byteLength > limit) throw bodyTooLarge(limit);
      return bytes;
    }
    return readLimited(this.req, limit);
  }

  /** Every request header as Fetch `Headers` (HTTP/2 pseudo-headers and unrepresentable values left out). */
  private headers(): Headers {
    const headers = new Headers();
    const raw = this.req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.charCodeAt(0) === 58 /* ":" */) continue;
      const lower = name.toLowerCase();
      if (this.overrides !== undefined && lower in this.overrides) continue;
      try {
        headers.append(name, raw[i + 1]!);
      } catch {
        // A value the Fetch API rejects is not one falgate or a hook can use.
      }
    }
    for (const [name, value] of Object.entries(this.overrides ?? {}))
      if (value !== null) headers.set(name, value);
    return headers;
  }
}

/**
 * Reads `req` to its end, at most `limit` bytes. Past the limit it stops reading and rejects with
 * `payload_too_large`, leaving the request alive (a `for await` would destroy it, and with it the socket the 413
 * is written to); the answer's writer then discards the rest.
 */
function readLimited(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: Error | null) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", settle);
      req.off("close", onClose);
      if (error === null) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      else {
        req.pause();
        reject(error);
      }
    };
    const onData = (chunk: Buffer | string) => {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += buffer.byteLength;
      if (size > limit) return settle(bodyTooLarge(limit));
      chunks.push(buffer);
    };
    const onEnd = () => settle(null);
    const aborted = () => Object.assign(new Error("aborted"), { code: "ECONNRESET" });
    const onClose = () => {
      if (!req.readableEnded) settle(aborted());
    };
    if (req.readableEnded) return resolve(new Uint8Array(0));
    if (req.destroyed) return reject(aborted());
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", settle);
    req.on("close", onClose);
  });
}

/**
 * A Fetch `Request` built only when something reads it: hooks that never look at the request cost nothing. The
 * object passes `instanceof Request`; every property and method is the built request's.
 */
function lazyRequest(build: () => Request): Request {
  let real: Request | undefined;
  const target = () => {
    real ??= build();
    return real;
  };
  return new Proxy(Object.create(Request.prototype) as Request, {
    get(_, property) {
      const request = target();
      const value: unknown = Reflect.get(request, property, request);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(request) : value;
    },
    has: (_, property) => property in target(),
    getPrototypeOf: () => Request.prototype,
  });
}

/** True when the request's framing announces body bytes (a positive length, chunked, or HTTP/2). */
export function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  if (length !== undefined) return Number(length) > 0;
  return req.headers["transfer-encoding"] !== undefined || req.httpVersionMajor >= 2;
}

const FORM_TYPE = /^\s*application\/x-www-form-urlencoded\s*(;|$)/i;
const JSON_TYPE = /^\s*application\/([\w.-]+\+)?json\s*(;|$)/i;

/**
 * The body a body parser left on `req.body`, re-encoded (with `content-type` relabelled in `overrides` to
 * match), or `null` when nothing usable was left.
 */
function parsedBody(req: ParsedIncomingMessage, overrides: Record<string, string | null>): Uint8Array | null {
  // Parsers leave `{}` behind for body-less requests (an empty queue-cancel PUT): that is no body, not "{}".
  if (!declaresBody(req)) return null;
  const body = req.body;
  if (body === undefined || (body === null && req._body !== true)) return null;
  if (body instanceof Uint8Array) return body;
  const type = header(req, "content-type") ?? "";
  if (typeof body === "string") {
    // text() decoded the bytes with the declared charset: they leave as UTF-8, labelled so.
    labelUtf8(overrides, type);
    return Buffer.from(body, "utf8");
  }
  if (FORM_TYPE.test(type) && isRecord(body)) {
    labelUtf8(overrides, type);
    return Buffer.from(encodeForm(body), "utf8");
  }
  // A parsed JSON body keeps its (JSON) type; any other object a parser produced is sent as JSON, and says so.
  if (JSON_TYPE.test(type)) labelUtf8(overrides, type);
  else overrides["content-type"] = "application/json";
  return Buffer.from(JSON.stringify(body) ?? "null", "utf8");
}

function isRecord(body: unknown): body is Record<string, unknown> {
  return typeof body === "object" && body !== null && !Array.isArray(body);
}

/** Rewrites a non-UTF-8 `charset` parameter of the content type to utf-8 (re-encoded bodies are UTF-8). */
function labelUtf8(overrides: Record<string, string | null>, type: string): void {
  const relabelled = type.replace(
    /(;\s*charset\s*=\s*)("[^"]*"|[^;\s]*)/i,
    (param, prefix: string, value: string) => (/^"?utf-?8"?$/i.test(value) ? param : `${prefix}utf-8`),
  );
  if (relabelled !== type) overrides["content-type"] = relabelled;
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

/** The absolute URL the client called: scheme from the socket (or `x-forwarded-proto`), host from `Host`. */
export function requestUrl(req: ParsedIncomingMessage, trustProxy: boolean): string {
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
