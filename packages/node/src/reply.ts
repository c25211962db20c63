import type { ServerResponse } from "node:http";
import type { Reply } from "@falgate/core/binding";
import { addHeader } from "./headers.js";
import { lingerAfterAnswer } from "./linger.js";

/**
 * Writes one of falgate's own answers (a refusal, a preflight, a minted token) to a Node response. When the
 * request body was not read to its end (a refusal before forwarding, a 413), the connection closes after the
 * answer, lingering (bounded) so the client reads the answer before the close. Resolves when the answer is sent or
 * the client is gone; never throws.
 */
export function writeReply(res: ServerResponse, reply: Reply): Promise<void> {
  if (res.headersSent || res.writableEnded || res.destroyed) {
    if (!res.writableEnded && !res.destroyed) res.destroy();
    return Promise.resolve();
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of reply.headers) addHeader(headers, name, value);
  const body = reply.body === null ? null : Buffer.from(reply.body, "utf8");
  if (body !== null) headers["content-length"] = String(body.byteLength);
  if (res.req && !res.req.complete) lingerAfterAnswer(res.req, res);
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off("close", done);
      res.off("finish", done);
      resolve();
    };
    res.on("close", done);
    res.on("finish", done);
    try {
      res.writeHead(reply.status, headers);
      if (body === null || res.req?.method === "HEAD") res.end();
      else res.end(body);
    } catch {
      res.destroy();
    }
  });
}
