"use client";
import { useState } from "react";
import { describeError, type ReadableError } from "../../lib/errors";
import { fal } from "../../lib/fal";
import { Card, ErrorBox } from "./ui";

const UNLISTED = "fal-ai/some-unlisted-model";

/** A call to an app that is not in `allowedEndpoints`: falgate refuses it before fal ever sees it. */
export function RefusedCard() {
  const [error, setError] = useState<ReadableError | null>(null);
  const [busy, setBusy] = useState(false);

  async function run() {
    setBusy(true);
    setError(null);
    try {
      await fal.run(UNLISTED, { input: { prompt: "anything" } });
      setError({
        title: "Unexpected",
        detail: "The call went through: the allowlist is not in force.",
        badge: "accepted",
      });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title="A refused endpoint" path={`fal.run("${UNLISTED}")`} testId="refused-card">
      <p className="muted">
        The demo allows only the apps it uses (<code>allowedEndpoints</code>). Anything else is refused by
        falgate, with the key never leaving the server.
      </p>
      <div className="row">
        <button type="button" onClick={run} disabled={busy} data-testid="refused-run">
          Call an unlisted app
        </button>
      </div>
      <ErrorBox error={error} testId="refused-error" />
    </Card>
  );
}
