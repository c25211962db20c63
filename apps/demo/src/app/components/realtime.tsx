"use client";
import {
  connectRealtime,
  createTokenProvider,
  type RealtimeConnection,
  type RealtimeState,
} from "@falgate/client";
import { useEffect, useRef, useState } from "react";
import { describeError, type ReadableError } from "../../lib/errors";
import { fal, firstImage, installMockFalShim } from "../../lib/fal";
import { Badge, Card, ErrorBox, ImageSlot } from "./ui";

interface RealtimeInput {
  prompt: string;
  image_url: string;
  strength: number;
  seed: number;
  sync_mode: boolean;
  num_inference_steps: number;
}

interface Pane {
  frames: number;
  image: string | null;
  state: string;
  error: ReadableError | null;
}

const EMPTY: Pane = { frames: 0, image: null, state: "idle", error: null };

function RealtimePane(props: { name: string; path: string; pane: Pane; id: string; note?: string }) {
  const { pane } = props;
  const tone = pane.error ? "bad" : pane.state === "open" ? "ok" : pane.state === "idle" ? "idle" : "busy";
  const label = pane.error ? pane.error.badge : pane.state;
  return (
    <div className="pane">
      <h3>{props.name}</h3>
      <code className="path">{props.path}</code>
      <div className="status-line">
        <Badge tone={tone} testId={`rt-${props.id}-state`}>
          {label}
        </Badge>
        <span className="muted">
          frames: <span data-testid={`rt-${props.id}-frames`}>{pane.frames}</span>
        </span>
      </div>
      <ImageSlot src={pane.image} alt={`${props.name} output`} testId={`rt-${props.id}-image`} />
      {props.note ? <p className="note">{props.note}</p> : null}
      <ErrorBox error={pane.error} testId={`rt-${props.id}-error`} />
    </div>
  );
}

/** A drawing canvas sent frame by frame through the tunnel (`connectRealtime`) and the direct-token path. */
export function RealtimeCard(props: { app: string; mock: boolean }) {
  const { app, mock } = props;
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const tunnelRef = useRef<RealtimeConnection<RealtimeInput> | null>(null);
  const directRef = useRef<{ send(input: RealtimeInput): void; close(): void } | null>(null);
  const seq = useRef(0);
  const drawing = useRef(false);
  const [prompt, setPrompt] = useState("a watercolor mountain lake");
  const [tunnel, setTunnel] = useState<Pane>(EMPTY);
  const [direct, setDirect] = useState<Pane>(EMPTY);
  const [expired, setExpired] = useState<ReadableError | null>(null);

  useEffect(() => {
    const canvas = canvasRef.current!;
    const ctx = canvas.getContext("2d")!;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#1d4ed8";
    ctx.lineWidth = 6;
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(30, 200);
    ctx.quadraticCurveTo(128, 40, 226, 200);
    ctx.stroke();

    if (mock) installMockFalShim();
    // The official client exposes no connection state: a result is the sign the direct path is open.
    const onResult = (set: typeof setTunnel, state?: string) => (output: unknown) =>
      set((p) => ({
        ...p,
        frames: p.frames + 1,
        image: firstImage(output) ?? p.image,
        error: null,
        state: state ?? p.state,
      }));
    tunnelRef.current = connectRealtime<RealtimeInput, unknown>(app, {
      onResult: onResult(setTunnel),
      onError: (error) => setTunnel((p) => ({ ...p, error: describeError(error) })),
      onStateChange: (state: RealtimeState) => setTunnel((p) => ({ ...p, state })),
    });
    const conn = fal.realtime.connect(app, {
      // A fal token minted by falgate (the `authorize` hook and the endpoint policy apply), then wss://fal.run.
      tokenProvider: createTokenProvider({ type: "fal" }),
      throttleInterval: 0,
      onResult: onResult(setDirect, "open"),
      onError: (error) => setDirect((p) => ({ ...p, error: describeError(error) })),
    });
    directRef.current = conn;
    return () => {
      tunnelRef.current?.close();
      conn.close();
    };
  }, [app, mock]);

  function frame(): RealtimeInput {
    seq.current += 1;
    return {
      prompt,
      image_url: canvasRef.current!.toDataURL("image/jpeg", 0.7),
      strength: 0.7,
      seed: seq.current,
      sync_mode: true,
      num_inference_steps: 4,
    };
  }

  const sendTunnel = () => tunnelRef.current?.send(frame());
  const sendDirect = () => {
    setDirect((p) => (p.state === "open" ? p : { ...p, state: "connecting" }));
    directRef.current?.send(frame());
  };

  function tryExpiredToken() {
    setExpired(null);
    const conn = connectRealtime<RealtimeInput, unknown>(app, {
      tokenProvider: async () => {
        const response = await fetch("/api/demo/expired-token", { method: "POST" });
        return (await response.json()) as string;
      },
      reconnect: false,
      onResult: () =>
        setExpired({ title: "Unexpected", detail: "An expired token was accepted.", badge: "accepted" }),
      onError: (error) => {
        setExpired({ ...describeError(error), title: "Expired token refused by the tunnel" });
        conn.close();
      },
    });
    conn.send(frame());
  }

  function pointer(event: React.PointerEvent<HTMLCanvasElement>, phase: "down" | "move" | "up") {
    const canvas = canvasRef.current!;
    const ctx = canvas.getContext("2d")!;
    const rect = canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * canvas.width;
    const y = ((event.clientY - rect.top) / rect.height) * canvas.height;
    if (phase === "down") {
      drawing.current = true;
      canvas.setPointerCapture(event.pointerId);
      ctx.beginPath();
      ctx.moveTo(x, y);
    } else if (phase === "move" && drawing.current) {
      ctx.lineTo(x, y);
      ctx.stroke();
    } else if (phase === "up" && drawing.current) {
      drawing.current = false;
      sendTunnel();
      sendDirect();
    }
  }

  return (
    <Card title="Realtime canvas" path={`${app} over WebSocket`} testId="realtime-card">
      <p className="muted">
        A realtime app can be reached two ways; the canvas is sent down both, so you can compare. Draw a
        stroke to send one frame each way, or use the buttons.
      </p>
      <div className="row">
        <input
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          aria-label="Realtime prompt"
          data-testid="rt-prompt"
        />
        <button type="button" className="secondary" onClick={tryExpiredToken} data-testid="rt-expired">
          Try an expired token
        </button>
      </div>
      <div className="paths" data-testid="rt-paths">
        <div className="path-choice">
          <button
            type="button"
            onClick={sendTunnel}
            data-testid="rt-send-tunnel"
            title="One frame through falgate's WebSocket tunnel"
          >
            Send via falgate&apos;s tunnel
          </button>
          <p>
            The browser opens a WebSocket to <strong>this server</strong> (
            <code>/api/fal/proxy/…/realtime</code>) with a single-use falgate token. falgate holds the key and
            relays every frame to fal, so the session counts against your limits and falgate can end it. The
            browser never talks to fal.
          </p>
        </div>
        <div className="path-choice">
          <button
            type="button"
            onClick={sendDirect}
            data-testid="rt-send-direct"
            title="One frame straight to fal with a short-lived fal token"
          >
            Send direct to fal
          </button>
          <p>
            falgate only mints a <strong>short-lived fal token</strong> for this one app (after the same
            sign-in and policy checks); the browser then connects to <code>wss://fal.run</code> itself. Frames
            skip falgate: less latency, but falgate cannot see or stop them.
          </p>
        </div>
      </div>
      <div className="realtime">
        <div className="pane">
          <h3>Your drawing</h3>
          <canvas
            ref={canvasRef}
            width={256}
            height={256}
            data-testid="rt-canvas"
            onPointerDown={(e) => pointer(e, "down")}
            onPointerMove={(e) => pointer(e, "move")}
            onPointerUp={(e) => pointer(e, "up")}
          />
        </div>
        <RealtimePane name="Tunnel" id="tunnel" path="connectRealtime → falgate → fal" pane={tunnel} />
        <RealtimePane
          name="Direct"
          id="direct"
          path="fal.realtime.connect + tokenProvider"
          pane={direct}
          note={
            mock
              ? "Mock mode: the official client hard-codes wss://fal.run, so a dev-only shim sends it to the local mock (through this server)."
              : undefined
          }
        />
      </div>
      <ErrorBox error={expired} testId="rt-expired-error" />
    </Card>
  );
}
