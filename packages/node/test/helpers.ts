import { createServer, type IncomingMessage, type RequestListener, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A promise with its resolver, for "wait until this event happened" without sleeps. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Starts an HTTP server on an ephemeral loopback port; `close()` also drops open connections. */
export async function listen(listener: RequestListener) {
  const server: Server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A raw client request (no agent, no keep-alive) so tests control exactly when bytes are sent. */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]> } = {},
) {
  const response = deferred<IncomingMessage>();
  const req = request(url, { method: options.method ?? "GET", headers: options.headers, agent: false });
  req.on("response", response.resolve);
  req.on("error", response.reject);
  // Tests that destroy the request on purpose never await the response: keep that rejection handled.
  response.promise.catch(() => undefined);
  return { req, response: response.promise };
}

/** Reads a Node response to the end. */
export async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Sends a request and reads the whole answer. */
export async function send(
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
) {
  const { req, response } = rawRequest(url, options);
  req.end(options.body);
  const res = await response;
  const body = await readAll(res);
  return { status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString("utf8") };
}

/** Reads from a paused stream until the accumulated text contains `marker`; leaves the stream paused. */
export function readUntil(res: IncomingMessage, marker: string, seen = { text: "" }): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      seen.text += chunk.toString("utf8");
      if (!seen.text.includes(marker)) return;
      cleanup();
      res.pause();
      resolve(seen.text);
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`stream ended before ${JSON.stringify(marker)}; got ${JSON.stringify(seen.text)}`));
    };
    const cleanup = () => {
      res.off("data", onData);
      res.off("end", onEnd);
      res.off("error", onError);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    res.on("data", onData);
    res.on("end", onEnd);
    res.on("error", onError);
    res.resume();
  });
}
