"use client";
import { useState } from "react";
import { describeError, type ReadableError } from "../../lib/errors";
import { fal, firstImage } from "../../lib/fal";
import { refreshUsage } from "../../lib/usage";
import { Badge, Card, ErrorBox, ImageSlot } from "./ui";

/** Draws a small sample picture, so the upload path works without picking a file. */
async function sampleImage(): Promise<File> {
  const canvas = document.createElement("canvas");
  canvas.width = 256;
  canvas.height = 256;
  const ctx = canvas.getContext("2d")!;
  const gradient = ctx.createLinearGradient(0, 0, 256, 256);
  gradient.addColorStop(0, "#1e3a8a");
  gradient.addColorStop(1, "#f59e0b");
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, 256, 256);
  ctx.fillStyle = "#fff";
  ctx.beginPath();
  ctx.arc(128, 128, 60, 0, Math.PI * 2);
  ctx.fill();
  const blob = await new Promise<Blob>((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("canvas.toBlob failed"))), "image/png"),
  );
  return new File([blob], "sample.png", { type: "image/png" });
}

/** `fal.storage.upload` (initiate through falgate, PUT straight to the CDN), then the file as an input. */
export function UploadCard(props: { app: string }) {
  const [phase, setPhase] = useState<"ready" | "uploading" | "generating" | "done" | "failed">("ready");
  const [source, setSource] = useState<string | null>(null);
  const [image, setImage] = useState<string | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);

  async function run(file: File) {
    setPhase("uploading");
    setSource(null);
    setImage(null);
    setError(null);
    try {
      const url = await fal.storage.upload(file);
      setSource(url);
      setPhase("generating");
      const result = await fal.subscribe(props.app, {
        input: { prompt: "the same picture as a watercolor", image_url: url, strength: 0.8 },
      });
      setImage(firstImage(result.data));
      setPhase("done");
    } catch (err) {
      setError(describeError(err));
      setPhase("failed");
    } finally {
      refreshUsage();
    }
  }

  const busy = phase === "uploading" || phase === "generating";
  return (
    <Card title="Upload as an input" path={`fal.storage.upload → ${props.app}`} testId="upload-card">
      <div className="row">
        <label className="file">
          <input
            type="file"
            accept="image/*"
            disabled={busy}
            data-testid="upload-input"
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (file) void run(file);
            }}
          />
          Choose an image…
        </label>
        <button
          type="button"
          disabled={busy}
          onClick={() => sampleImage().then(run)}
          data-testid="upload-sample"
        >
          Use a sample image
        </button>
      </div>
      <div className="status-line">
        <Badge
          tone={phase === "done" ? "ok" : phase === "failed" ? "bad" : busy ? "busy" : "idle"}
          testId="upload-status"
        >
          {phase === "failed" && error ? error.badge : phase}
        </Badge>
      </div>
      <div className="split">
        <ImageSlot
          src={source}
          alt="uploaded file"
          testId="upload-source"
          caption={source ? "uploaded" : undefined}
        />
        <ImageSlot
          src={image}
          alt="image-to-image result"
          testId="upload-image"
          caption={image ? "result" : undefined}
        />
      </div>
      <ErrorBox error={error} testId="upload-error" />
    </Card>
  );
}
