import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { decode, encode } from "@msgpack/msgpack";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { imageId, isEcho, seedFor } from "./apps.js";
import type { Fault } from "./faults.js";
import { type AppPath, parseAppPath, sleep } from "./http.js";
import { IMAGE_SIZE } from "./png.js";
import type { MockState } from "./state.js";
import { tokenAllows } from "./tokens.js";
import type { FalHost, RecordedRequest } from "./types.js";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** The realtime WebSocket endpoint (`wss://fal.run/{app}[/path]/realtime`). */
export interface Realtime {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, host: FalHost, url: URL): Promise<void>;
  close(): void;
}

/** Creates the realtime endpoint on a `noServer` ws server. */
export function createRealtime(state: MockState): Realtime {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024, perMessageDeflate: false });
  return {
    async upgrade(req, socket, head, host, url) {
      socket.on("error", () => undefined);
      const record = state.recorder.create({
        method: req.method ?? "GET",
        host,
        path: url.pathname,
        search: url.search,
        headers: req.headers,
        websocket: true,
      });
      record.requestId = randomUUID();
      state.recorder.finishBody(record, EMPTY_SHA256, Buffer.alloc(0));
      socket.once("close", () => {
        if (record.status === undefined) {
          record.aborted = true;
          state.recorder.changed(record);
        }
      });
      const app = host === "fal.run" ? parseAppPath(url.pathname) : undefined;
      const fault = state.faults.take("GET", host, url.pathname);
      if (fault) {
        record.fault = fault.kind;
        try {
          await sleep(fault.delayMs, state.lifetime);
        } catch {
          return void socket.destroy();
        }
        if (fault.kind === "status") return refuse(socket, record, fault.status, fault.body, fault.headers);
        if (fault.kind === "reset") return void resetSocket(socket);
      }
      if (!app) return refuse(socket, record, 404, { detail: "Not Found" }, {});
      const authorized = await isAuthorized(state, req, url, app);
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        record.status = 101;
        state.recorder.changed(record);
        const session = new Session(state, ws, record, app, fault);
        if (!authorized) session.unauthorized();
        else session.start();
      });
    },
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

async function isAuthorized(
  state: MockState,
  req: IncomingMessage,
  url: URL,
  app: AppPath,
): Promise<boolean> {
  const header = req.headers.authorization;
  if (header) return /^key\s+(\S+)\s*$/i.exec(header)?.[1] === state.options.key;
  const token = url.searchParams.get("fal_jwt_token");
  if (!token) return false;
  const claims = await state.tokens.verify(token);
  return claims !== null && tokenAllows(claims, app.owner, app.alias);
}

function refuse(
  socket: Duplex,
  record: RecordedRequest,
  status: number,
  body: unknown,
  headers: Record<string, string>,
): void {
  record.status = status;
  const payload = typeof body === "string" ? body : JSON.stringify(body ?? { detail: "error" });
  const lines = [
    `HTTP/1.1 ${status} Mock`,
    `content-type: ${typeof body === "string" ? "text/plain" : "application/json"}`,
    `content-length: ${Buffer.byteLength(payload)}`,
    `x-fal-request-id: ${record.requestId}`,
    "connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join("\r\n")}\r\n\r\n${payload}`);
}

function resetSocket(socket: Duplex): void {
  const net = socket as Duplex & { resetAndDestroy?: () => void };
  if (typeof net.resetAndDestroy === "function") net.resetAndDestroy();
  else socket.destroy();
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** One realtime connection: answers each input frame in the input's format. */
class Session {
  private sentBytes = 0;

  constructor(
    private readonly state: MockState,
    private readonly ws: WebSocket,
    private readonly record: RecordedRequest,
    private readonly app: AppPath,
    private readonly fault: Fault | undefined,
  ) {
    ws.on("error", (error) =>
      state.logger?.debug?.("mock-fal realtime socket error", { error: error.message }),
    );
    ws.on("close", (code, reason) => {
      record.closeCode = code;
      record.closeReason = reason.toString("utf8");
      state.recorder.changed(record);
    });
  }

  /** Sends fal's Unauthorized frame (JSON text) and closes with 1008. */
  unauthorized(): void {
    this.send(JSON.stringify({ status: "error", error: "Unauthorized" }), false);
    this.ws.close(1008, "Unauthorized");
  }

  /** Starts answering input frames. */
  start(): void {
    this.ws.on("message", (data, isBinary) => {
      const bytes = toBuffer(data);
      this.state.recorder.frame(this.record, {
        direction: "in",
        binary: isBinary,
        data: bytes,
        size: bytes.length,
        at: Date.now(),
      });
      this.onMessage(bytes, isBinary);
    });
  }

  private onMessage(bytes: Buffer, binary: boolean): void {
    if (isEcho(this.app)) {
      this.send(bytes, binary);
      return;
    }
    let input: unknown;
    try {
      input = binary ? decode(bytes) : JSON.parse(bytes.toString("utf8"));
    } catch {
      this.reply(
        { type: "x-fal-error", error: "INTERNAL_ERROR", reason: "Could not decode the message" },
        binary,
      );
      return;
    }
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      this.reply({ type: "x-fal-error", error: "INTERNAL_ERROR", reason: "Input must be an object" }, binary);
      return;
    }
    const fields = input as Record<string, unknown>;
    const close = fields.mock_close as { code?: unknown; reason?: unknown } | undefined;
    if (close && typeof close === "object") {
      try {
        this.ws.close(Number(close.code ?? 1000), String(close.reason ?? ""));
      } catch {
        this.ws.close(1011, "invalid mock_close code");
      }
      return;
    }
    if (typeof fields.mock_error === "string") {
      const error = fields.mock_error;
      const reason =
        typeof fields.reason === "string" ? fields.reason : `Mock error ${error} requested by the input`;
      this.reply({ type: "x-fal-error", error, reason }, binary);
      // TIMEOUT is fal's idle notice (clients ignore it): a normal close; anything else is an internal error.
      this.ws.close(error === "TIMEOUT" ? 1000 : 1011, error);
      return;
    }
    if (fields.mock_message === true) {
      this.reply({ type: "x-fal-message", message: "Mock message before the result", timings: {} }, binary);
    }
    this.reply(this.result(fields), binary);
  }

  private result(fields: Record<string, unknown>): Record<string, unknown> {
    const prompt = typeof fields.prompt === "string" ? fields.prompt : "";
    const seed =
      typeof fields.seed === "number" && Number.isInteger(fields.seed) ? fields.seed : seedFor(prompt);
    const id = imageId(this.app, prompt, seed, 0);
    const url =
      fields.sync_mode === true
        ? `data:image/png;base64,${this.state.pngs.get(id).toString("base64")}`
        : `${this.state.publicUrl}/_cdn/images/${id}.png`;
    return {
      request_id: typeof fields.request_id === "string" ? fields.request_id : randomUUID(),
      images: [{ url, width: IMAGE_SIZE, height: IMAGE_SIZE, content_type: "image/png" }],
      seed,
      timings: { inference: 0.01 },
      has_nsfw_concepts: [false],
    };
  }

  private reply(message: Record<string, unknown>, binary: boolean): void {
    this.send(binary ? Buffer.from(encode(message)) : JSON.stringify(message), binary);
  }

  /** Sends one frame, unless a `reset-during-body`/`stall` fault cuts or swallows it. */
  private send(data: Buffer | string, binary: boolean): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const fault = this.fault;
    if (fault && (fault.kind === "reset-during-body" || fault.kind === "stall")) {
      if (this.sentBytes + bytes.length > fault.afterBytes) {
        if (fault.kind === "reset-during-body") this.ws.terminate();
        return;
      }
    }
    this.sentBytes += bytes.length;
    this.ws.send(data, { binary });
    this.state.recorder.frame(this.record, {
      direction: "out",
      binary,
      data: bytes,
      size: bytes.length,
      at: Date.now(),
    });
  }
}
