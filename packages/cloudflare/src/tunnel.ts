import type {
  ResponseInit as WorkerResponseInit,
  WebSocket as WorkerWebSocket,
  WebSocketPair as WorkerWebSocketPair,
} from "@cloudflare/workers-types";
import { type Falgate, FalgateError } from "@falgate/core";
import {
  bindingOf,
  CloseCode,
  createRelay,
  type RelayPeer,
  type TunnelDecision,
  type TunnelGate,
} from "@falgate/core/binding";

/** A message as Workers deliver it: text frames are strings, binary frames `ArrayBuffer`s. */
type Message = string | ArrayBuffer;

const encoder = new TextEncoder();
/**
 * The realtime tunnel for Cloudflare Workers: returns the `101` answer for a tunnel upgrade, an error
 * `Response` for a refused one, or `null` when the request is not a WebSocket upgrade below the tunnel mount
 * (serve it with the HTTP proxy). `env` is the Worker's bindings (the platform env).
 *
 * Differences with the Node binding: the Workers runtime answers protocol pings itself and exposes no
 * `bufferedAmount`/pause, so there is no falgate ping and no back-pressure; `idleTimeout` and
 * `maxSessionDuration` bound every tunnel.
 * @example
 * const falgate = createFalgate({ allowedEndpoints: ["fal-ai/fast-lcm-diffusion"] });
 * export default {
 *   async fetch(request: Request, env: Env, ctx: ExecutionContext) {
 *     return (await handleTunnel(request, falgate, env)) ?? falgate.fetch(request, env, ctx);
 *   },
 * };
 */
export async function handleTunnel<C extends object>(
  request: Request,
  falgate: Falgate<C>,
  env: object,
): Promise<Response | null> {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return null;
  const { tunnel: gate, settings } = bindingOf(falgate);
  const decision = await gate.decide(request, env);
  if (decision.action === "pass") return null;
  if (decision.action === "reject") return decision.response;
  if (decision.action === "refuse") return refuseInBand(decision.refusal);

  const { limits } = gate;
  let upstream: WorkerWebSocket | null = null;
  let failure = "fal is unreachable";
  // Not `AbortSignal.timeout`: workerd ties the fetch's signal to the WebSocket it returns, so the timer must
  // only cover the upgrade and be cleared once it settles, or every tunnel would die `connectTimeout` after opening.
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new DOMException("fal did not answer in time", "TimeoutError")),
    limits.connectTimeout,
  );
  try {
    const transport = settings.fetch;
    const response = (await transport(decision.upstream.fetchUrl, {
      headers: { ...decision.upstream.headers, upgrade: "websocket" },
      signal: deadline.signal,
    })) as unknown as { status: number; webSocket?: WorkerWebSocket | null; body: ReadableStream | null };
    if (response.status === 101 && response.webSocket) upstream = response.webSocket;
    else {
      failure = `fal refused the connection (${response.status})`;
      await response.body?.cancel().catch(() => {});
    }
  } catch {
    if (deadline.signal.aborted) failure = "fal did not answer in time";
  } finally {
    clearTimeout(timer);
  }
  if (upstream === null) {
    decision.release();
    return acceptThenClose(CloseCode.badGateway, failure);
  }

  const [client, server] = pair();
  // Newer compatibility dates deliver binary frames as Blob by default; relay bytes as bytes, unchanged.
  binaryAsArrayBuffer(server);
  binaryAsArrayBuffer(upstream);
  server.accept();
  upstream.accept();
  relay(server, upstream, decision, gate);
  return new Response(null, { status: 101, webSocket: client } as WorkerResponseInit as ResponseInit);
}

function relay(
  server: WorkerWebSocket,
  upstream: WorkerWebSocket,
  decision: Extract<TunnelDecision, { action: "connect" }>,
  gate: TunnelGate,
): void {
  const { limits } = gate;
  const r = createRelay<Message>({
    limits,
    size,
    client: peer(server),
    upstream: peer(upstream),
    onEnd: (end) => decision.ended(end),
  });
  r.upstreamOpened();
  decision.opened();

  const tooBig = (message: Message) => size(message) > limits.maxPayload;
  server.addEventListener("message", (event) => {
    const data = event.data as Message;
    if (tooBig(data)) return r.end("client-closed", CloseCode.messageTooBig, "Message too big");
    r.fromClient(data);
  });
  upstream.addEventListener("message", (event) => {
    const data = event.data as Message;
    if (tooBig(data)) return r.end("upstream-closed", CloseCode.messageTooBig, "Message too big");
    r.fromUpstream(data);
  });
  server.addEventListener("close", (event) => {
    r.clientClosed(event.code, event.reason);
    // Complete the close handshake (runtimes without `web_socket_auto_reply_to_close` wait for it).
    safeClose(server, CloseCode.normal, "");
  });
  server.addEventListener("error", () => r.clientClosed(1006, ""));
  upstream.addEventListener("close", (event) => {
    r.upstreamClosed(event.code, event.reason);
    safeClose(upstream, CloseCode.normal, "");
  });
  upstream.addEventListener("error", () => r.upstreamClosed(1006, ""));
}

function peer(ws: WorkerWebSocket): RelayPeer<Message> {
  return {
    send(message) {
      try {
        ws.send(message);
      } catch {
        // The socket closed under us; its close event ends the relay.
      }
    },
    close(code, reason) {
      safeClose(ws, code, reason);
    },
  };
}

function safeClose(ws: WorkerWebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}

function size(message: Message): number {
  return typeof message === "string" ? encoder.encode(message).byteLength : message.byteLength;
}

function pair(): [WorkerWebSocket, WorkerWebSocket] {
  const Pair = (globalThis as unknown as { WebSocketPair?: typeof WorkerWebSocketPair }).WebSocketPair;
  if (!Pair) throw new FalgateError("internal_error", "WebSocketPair is not available in this runtime.");
  const { 0: client, 1: server } = new Pair();
  return [client, server];
}

function binaryAsArrayBuffer(ws: WorkerWebSocket): void {
  (ws as unknown as { binaryType?: string }).binaryType = "arraybuffer";
}

function refuseInBand(refusal: { frame: string; code: number; reason: string }): Response {
  const [client, server] = pair();
  server.accept();
  server.send(refusal.frame);
  server.close(refusal.code, refusal.reason);
  return new Response(null, { status: 101, webSocket: client } as WorkerResponseInit as ResponseInit);
}

function acceptThenClose(code: number, reason: string): Response {
  const [client, server] = pair();
  server.accept();
  server.close(code, reason);
  return new Response(null, { status: 101, webSocket: client } as WorkerResponseInit as ResponseInit);
}
