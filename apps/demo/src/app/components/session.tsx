"use client";
import { useState } from "react";

/** The sign-in stub: sets or clears a cookie that the `authorize` hook reads. */
export function Session(props: { user: string | null }) {
  const [busy, setBusy] = useState(false);
  async function change(method: "POST" | "DELETE") {
    setBusy(true);
    await fetch("/api/session", {
      method,
      headers: { "content-type": "application/json" },
      body: method === "POST" ? JSON.stringify({ user: "ada" }) : undefined,
    });
    window.location.reload();
  }
  return props.user ? (
    <div className="session">
      <span data-testid="session-status">
        Signed in as <strong>{props.user}</strong>
      </span>
      <button
        type="button"
        className="secondary"
        disabled={busy}
        onClick={() => change("DELETE")}
        data-testid="sign-out"
      >
        Sign out
      </button>
    </div>
  ) : (
    <div className="session">
      <span data-testid="session-status">Signed out</span>
      <button type="button" disabled={busy} onClick={() => change("POST")} data-testid="sign-in">
        Sign in as ada
      </button>
    </div>
  );
}
