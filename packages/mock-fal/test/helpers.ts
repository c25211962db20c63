import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { MockFal } from "../src/index.js";

/** `fetch` against the mock as falgate would forward it: original fal host in the routing header. */
export function falFetch(
  mock: MockFal,
  host: string,
  path: string,
  init: RequestInit & { auth?: boolean } = {},
): Promise<Response> {
  const { auth = true, ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set("x-falgate-upstream-host", host);
  if (auth && !headers.has("authorization")) headers.set("authorization", `Key ${mock.key}`);
  if (rest.body !== undefined && !headers.has("content-type"))
    headers.set("content-type", "application/json");
  return fetch(`${mock.url}${path}`, { ...rest, headers });
}

/** POSTs JSON with the mock's key. */
export function postJson(mock: MockFal, host: string, path: string, body: unknown): Promise<Response> {
  return falFetch(mock, host, path, { method: "POST", body: JSON.stringify(body) });
}

/** Parses an SSE body into its `data:` payloads and comment lines. */
export function parseSse(text: string): { events: unknown[]; comments: string[] } {
  const events: unknown[] = [];
  const comments: string[] = [];
  for (const block of text.split("\n\n")) {
    for (const line of block.split("\n")) {
      if (line.startsWith("data: ")) events.push(JSON.parse(line.slice(6)));
      else if (line.startsWith(":")) comments.push(line);
    }
  }
  return { events, comments };
}

/** Reads an SSE response event by event. */
export async function* sseEvents(response: Response): AsyncGenerator<unknown> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n")) if (line.startsWith("data: ")) yield JSON.parse(line.slice(6));
      end = buffer.indexOf("\n\n");
    }
  }
}

/** The result of a raw node:http exchange (to see bytes and errors that `fetch` hides). */
export interface RawResult {
  status: number | undefined;
  headers: IncomingHttpHeaders | undefined;
  body: Buffer;
  error: NodeJS.ErrnoException | undefined;
  /** True when the response ended normally. */
  ended: boolean;
}

/** A raw HTTP request through node:http; resolves when the response ends or the connection fails. */
export function rawRequest(
  mock: MockFal,
  options: {
    method?: string;
    host: string;
    path: string;
    body?: Buffer | string;
    headers?: Record<string, string>;
  },
  onResponse?: (status: number, abort: () => void) => void,
): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const result: RawResult = {
      status: undefined,
      headers: undefined,
      body: Buffer.alloc(0),
      error: undefined,
      ended: false,
    };
    const finish = () => resolve({ ...result, body: Buffer.concat(chunks) });
    const req = httpRequest(
      `${mock.url}${options.path}`,
      {
        method: options.method ?? "GET",
        agent: false,
        headers: {
          "x-falgate-upstream-host": options.host,
          authorization: `Key ${mock.key}`,
          ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          ...options.headers,
        },
      },
      (res) => {
        result.status = res.statusCode;
        result.headers = res.headers;
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          result.ended = true;
        });
        res.on("error", (error) => {
          result.error = error;
        });
        res.on("close", finish);
        onResponse?.(res.statusCode ?? 0, () => req.destroy());
      },
    );
    req.on("error", (error) => {
      result.error = error;
      finish();
    });
    req.end(options.body);
  });
}
