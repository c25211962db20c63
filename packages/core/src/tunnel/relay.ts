import { CloseCode, closeReason, mapCloseCode } from "./close.js";
import type { TunnelLimits } from "./options.js";

/** One side of a tunnel as the relay drives it; bindings adapt their socket type to it. */
export interface RelayPeer<M> {
  /** Sends one message unchanged (text stays text, binary stays binary). */
  send(message: M): void;
  /** Starts a close handshake with a sendable code. */
  close(code: number, reason: string): void;
}

/** Why a tunnel ended. */
export type RelayEndReason =
  | "client-closed"
  | "upstream-closed"
  | "upstream-failed"
  | "idle-timeout"
  | "session-limit"
  | "queue-overflow"
  | "shutdown";

/** Counters reported when a tunnel ends. */
export interface RelayEndInfo {
  reason: RelayEndReason;
  /** The close code sent to the client, or the one it closed with (1005: none, 1006: vanished). */
  code: number;
  durationMs: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** What {@link createRelay} needs. */
export interface RelayOptions<M> {
  limits: Pick<TunnelLimits, "maxQueuedMessages" | "maxQueuedBytes" | "idleTimeout" | "maxSessionDuration">;
  client: RelayPeer<M>;
  /** The upstream side, still connecting: only `close` is called until {@link Relay.upstreamOpened}. */
  upstream: RelayPeer<M>;
  /** Payload size of a message in bytes. */
  size(message: M): number;
  /** Called once, after both sides were told to close; release slots and timers here. */
  onEnd?(info: RelayEndInfo): void;
}

/** The portable relay state machine: queueing, ordering, close mapping, timeouts. Bindings feed it socket events. */
export interface Relay<M> {
  readonly state: "connecting" | "open" | "closed";
  /** A message from the browser: sent upstream, or queued (bounded) while upstream is connecting. */
  fromClient(message: M): void;
  /** A message from fal: sent to the browser. */
  fromUpstream(message: M): void;
  /** Upstream is open: flushes the queue in order. */
  upstreamOpened(): void;
  /** The upstream handshake failed (refused, unreachable, timed out): closes the client with 1014. */
  upstreamFailed(reason: string): void;
  /** The browser closed or vanished (`code` 1006): closes upstream with a sendable code. */
  clientClosed(code?: number, reason?: string): void;
  /** fal closed or vanished: closes the browser with a sendable code and fal's reason. */
  upstreamClosed(code?: number, reason?: string): void;
  /** Closes both sides (shutdown, dead peer). */
  end(reason: RelayEndReason, code: number, text: string): void;
}

/** Creates the relay for one accepted tunnel and starts its idle and session timers. */
export function createRelay<M>(options: RelayOptions<M>): Relay<M> {
  const { limits, client, upstream, size } = options;
  const startedAt = Date.now();
  let state: Relay<M>["state"] = "connecting";
  let queue: M[] = [];
  let queuedBytes = 0;
  let lastActivity = startedAt;
  const stats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let sessionTimer: ReturnType<typeof setTimeout> | undefined;

  // One timer re-armed lazily from the last activity: no clearTimeout/setTimeout churn per message.
  const armIdle = (delay: number) => {
    idleTimer = setTimeout(() => {
      const quiet = Date.now() - lastActivity;
      if (quiet >= limits.idleTimeout)
        finish("idle-timeout", CloseCode.normal, "Idle timeout", CloseCode.normal);
      else armIdle(limits.idleTimeout - quiet);
    }, delay);
  };
  if (limits.idleTimeout > 0) armIdle(limits.idleTimeout);
  if (limits.maxSessionDuration > 0) {
    sessionTimer = setTimeout(
      () => finish("session-limit", CloseCode.normal, "Session time limit", CloseCode.normal),
      limits.maxSessionDuration,
    );
  }

  function finish(
    reason: RelayEndReason,
    clientCode: number | null,
    text: string,
    upstreamCode: number | null,
    reported = clientCode ?? CloseCode.normal,
  ): void {
    if (state === "closed") return;
    state = "closed";
    queue = [];
    queuedBytes = 0;
    clearTimeout(idleTimer);
    clearTimeout(sessionTimer);
    const why = closeReason(text);
    if (clientCode !== null) safely(() => client.close(clientCode, why));
    if (upstreamCode !== null) safely(() => upstream.close(upstreamCode, why));
    options.onEnd?.({ reason, code: reported, durationMs: Date.now() - startedAt, ...stats });
  }

  return {
    get state() {
      return state;
    },
    fromClient(message) {
      if (state === "closed") return;
      lastActivity = Date.now();
      const n = size(message);
      stats.messagesIn++;
      stats.bytesIn += n;
      if (state === "open") {
        upstream.send(message);
        return;
      }
      if (queue.length + 1 > limits.maxQueuedMessages || queuedBytes + n > limits.maxQueuedBytes) {
        finish(
          "queue-overflow",
          CloseCode.policyViolation,
          "Too many messages before the connection opened",
          CloseCode.goingAway,
        );
        return;
      }
      queue.push(message);
      queuedBytes += n;
    },
    fromUpstream(message) {
      if (state === "closed") return;
      lastActivity = Date.now();
      stats.messagesOut++;
      stats.bytesOut += size(message);
      client.send(message);
    },
    upstreamOpened() {
      if (state !== "connecting") return;
      state = "open";
      const pending = queue;
      queue = [];
      queuedBytes = 0;
      for (const message of pending) upstream.send(message);
    },
    upstreamFailed(reason) {
      finish("upstream-failed", CloseCode.badGateway, reason, CloseCode.goingAway);
    },
    clientClosed(code, reason) {
      finish("client-closed", null, reason ?? "", mapCloseCode(code, "upstream"), code ?? 1005);
    },
    upstreamClosed(code, reason) {
      finish("upstream-closed", mapCloseCode(code, "client"), reason ?? "", null);
    },
    end(reason, code, text) {
      finish(reason, code, text, CloseCode.goingAway);
    },
  };
}

function safely(action: () => void): void {
  try {
    action();
  } catch {
    // A socket that is already gone cannot be closed twice; the binding's own close handler cleans up.
  }
}
