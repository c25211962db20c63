"use client";
import { useState } from "react";
import { describeError, type ReadableError } from "../../lib/errors";
import { fal, firstImage } from "../../lib/fal";
import { refreshUsage } from "../../lib/usage";
import { Badge, Card, ErrorBox, ImageSlot } from "./ui";

/** A streaming call: `fal.stream` partial outputs (progressive previews) arrive as they are made. */
export function StreamCard(props: { app: string }) {
  const [prompt, setPrompt] = useState("a red fox in fresh snow");
  const [running, setRunning] = useState(false);
  const [partials, setPartials] = useState(0);
  const [done, setDone] = useState(false);
  const [image, setImage] = useState<string | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);

  async function run() {
    setRunning(true);
    setPartials(0);
    setDone(false);
    setImage(null);
    setError(null);
    try {
      const stream = await fal.stream(props.app, { input: { prompt, image_size: "square" } });
      // The stream's outcome, observed at once: a refused stream (signed out, a limit) rejects it before the loop
      // below ends, and nothing may be left unobserved in between (an uncaught rejection in the page).
      const finished = stream.done();
      finished.catch(() => undefined);
      for await (const partial of stream) {
        setPartials((n) => n + 1);
        const url = firstImage(partial);
        if (url) setImage(url);
      }
      const final = await finished;
      setImage(firstImage(final) ?? null);
      setDone(true);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setRunning(false);
      refreshUsage();
    }
  }

  const events = `${partials} ${partials === 1 ? "event" : "events"}`;
  const label = error ? error.badge : done ? `done · ${events}` : running ? `streaming · ${events}` : "ready";
  return (
    <Card title="Streaming partial results" path={`fal.stream("${props.app}")`} testId="stream-card">
      <div className="row">
        <input
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          aria-label="Stream prompt"
          data-testid="stream-prompt"
        />
        <button type="button" onClick={run} disabled={running} data-testid="stream-run">
          Stream
        </button>
      </div>
      <div className="status-line">
        <Badge tone={error ? "bad" : done ? "ok" : running ? "busy" : "idle"} testId="stream-status">
          {label}
        </Badge>
        <span className="muted">each event is a sharper preview</span>
      </div>
      <ImageSlot
        src={image}
        alt="streamed result"
        testId="stream-image"
        caption={done ? "final" : image ? "partial" : undefined}
      />
      <ErrorBox error={error} testId="stream-error" />
    </Card>
  );
}
