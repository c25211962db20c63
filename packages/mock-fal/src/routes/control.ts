import type { IncomingMessage, ServerResponse } from "node:http";
import { parseFault } from "../faults.js";
import { serializeRecord } from "../recorder.js";
import type { MockState } from "../state.js";

const LIMIT = 1024 * 1024;

function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "content-type": "application/json", "content-length": String(payload.length) });
  res.end(payload);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= LIMIT) chunks.push(chunk as Buffer);
  }
  if (size > LIMIT) throw new TypeError("body over 1 MiB");
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/**
 * Control routes for the CLI and demos (not recorded, no auth: the mock is a loopback tool).
 * `GET /_mock/health`, `GET /_mock/requests`, `POST /_mock/faults` (one spec or an array),
 * `DELETE /_mock/faults`, `POST /_mock/reset`.
 */
export async function handleControl(
  state: MockState,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  reset: () => void,
): Promise<void> {
  const route = `${req.method} ${pathname}`;
  if (route === "GET /_mock/health") return json(res, 200, { ok: true, url: state.url });
  if (route === "GET /_mock/requests") return json(res, 200, state.recorder.requests.map(serializeRecord));
  if (route === "DELETE /_mock/faults") {
    state.faults.clear();
    return json(res, 200, { ok: true });
  }
  if (route === "POST /_mock/reset") {
    reset();
    return json(res, 200, { ok: true });
  }
  if (route === "POST /_mock/faults") {
    try {
      const body = await readJson(req);
      const faults = (Array.isArray(body) ? body : [body]).map(parseFault);
      for (const fault of faults) state.faults.add(fault);
      return json(res, 201, { ok: true, added: faults.length });
    } catch (error) {
      return json(res, 400, { detail: error instanceof Error ? error.message : "invalid fault" });
    }
  }
  req.resume();
  json(res, 404, { detail: "Unknown control route" });
}
