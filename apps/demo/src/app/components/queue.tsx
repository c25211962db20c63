"use client";
import { useRef, useState } from "react";
import { describeError, type ReadableError } from "../../lib/errors";
import { fal, firstImage } from "../../lib/fal";
import { refreshUsage } from "../../lib/usage";
import { Badge, Card, ErrorBox, ImageSlot } from "./ui";

type Phase = "idle" | "submitting" | "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED" | "CANCELLED" | "FAILED";

/** Text to image through the queue: `fal.subscribe` with live status and logs, and a cancel button. */
export function QueueCard(props: { app: string }) {
  const [prompt, setPrompt] = useState("a lighthouse at dusk, oil painting");
  const [phase, setPhase] = useState<Phase>("idle");
  const [position, setPosition] = useState<number | null>(null);
  const [logs, setLogs] = useState<string[]>([]);
  const [image, setImage] = useState<string | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);
  const [requestId, setRequestId] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const cancelled = useRef(false);

  async function run() {
    setPhase("submitting");
    setLogs([]);
    setImage(null);
    setError(null);
    setRequestId(null);
    setPosition(null);
    cancelled.current = false;
    try {
      const result = await fal.subscribe(props.app, {
        input: { prompt, image_size: "square", num_images: 1 },
        logs: true,
        mode: "polling",
        // Each poll is a call, and a line in the server's access log: once a second keeps the terminal readable.
        pollInterval: 1000,
        onEnqueue: (id) => setRequestId(id),
        onQueueUpdate: (update) => {
          setPhase(update.status);
          setPosition(update.status === "IN_QUEUE" ? update.queue_position : null);
          if ("logs" in update && Array.isArray(update.logs))
            setLogs(update.logs.map((line) => line.message));
        },
      });
      setImage(firstImage(result.data));
      setPhase("COMPLETED");
    } catch (err) {
      if (
        cancelled.current ||
        (err as { body?: { detail?: unknown } }).body?.detail === "Request was cancelled"
      ) {
        setPhase("CANCELLED");
      } else {
        setError(describeError(err));
        setPhase("FAILED");
      }
    } finally {
      setRequestId(null);
      refreshUsage();
    }
  }

  async function cancel() {
    if (!requestId) return;
    setCancelling(true);
    cancelled.current = true;
    try {
      await fal.queue.cancel(props.app, { requestId });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setCancelling(false);
    }
  }

  const pending = phase === "submitting" || phase === "IN_QUEUE" || phase === "IN_PROGRESS";
  const tone = phase === "COMPLETED" ? "ok" : phase === "FAILED" ? "bad" : pending ? "busy" : "idle";
  const label =
    phase === "IN_QUEUE" && position !== null
      ? `IN_QUEUE · position ${position}`
      : phase === "idle"
        ? "ready"
        : phase === "FAILED" && error
          ? error.badge
          : phase;

  return (
    <Card title="Text to image, queued" path={`fal.subscribe("${props.app}")`} testId="queue-card">
      <div className="row">
        <input
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          aria-label="Queue prompt"
          data-testid="queue-prompt"
        />
        <button type="button" onClick={run} disabled={pending} data-testid="queue-run">
          Generate
        </button>
        <button
          type="button"
          className="secondary"
          onClick={cancel}
          disabled={!requestId || cancelling}
          data-testid="queue-cancel"
        >
          Cancel
        </button>
      </div>
      <div className="status-line">
        <Badge tone={tone} testId="queue-status">
          {label}
        </Badge>
      </div>
      <div className="split">
        <ImageSlot src={image} alt="queued result" testId="queue-image" />
        <ol className="logs" data-testid="queue-logs" aria-label="Logs">
          {logs.length === 0 ? <li className="muted">logs appear here while the app runs</li> : null}
          {logs.map((line, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: log lines only ever grow
            <li key={i}>{line}</li>
          ))}
        </ol>
      </div>
      <ErrorBox error={error} testId="queue-error" />
    </Card>
  );
}
