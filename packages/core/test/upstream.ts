import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as the test upstream saw it. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
  sha256: string;
  /** Resolves with the whole body once it has arrived (routes must not read `req` themselves). */
  bodyDone: Promise<Buffer>;
  /** Resolves when the upstream socket closed before the response finished (client abort seen upstream). */
  aborted: Promise<void>;
}

export type Route = (req: IncomingMessage, res: ServerResponse, seen: Seen) => unknown;

/** A real HTTP server on loopback standing in for fal, recording what falgate forwarded. */
export async function startUpstream(route: Route = (_req, res) => res.end("{}")) {
  const seen: Seen[] = [];
  const waiters: Array<(s: Seen) => void> = [];
  const server: Server = createServer(async (req, res) => {
    let markAborted!: () => void;
    const aborted = new Promise<void>((resolve) => {
      markAborted = resolve;
    });
    res.on("close", () => {
      if (!res.writableFinished) markAborted();
    });
    const chunks: Buffer[] = [];
    const hash = createHash("sha256");
    let bodyDone!: (b: Buffer) => void;
    const entry: Seen = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.alloc(0),
      sha256: "",
      aborted,
      bodyDone: new Promise<Buffer>((resolve) => {
        bodyDone = resolve;
      }),
    };
    seen.push(entry);
    for (const w of waiters.splice(0)) w(entry);
    req.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      if (chunks.length < 4096) chunks.push(chunk);
    });
    req.on("end", () => {
      entry.body = Buffer.concat(chunks);
      entry.sha256 = hash.digest("hex");
      bodyDone(entry.body);
    });
    try {
      await route(req, res, entry);
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    /** Resolves with the next request the upstream receives (or the last one, if one already arrived). */
    next(): Promise<Seen> {
      return new Promise((resolve) => waiters.push(resolve));
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
