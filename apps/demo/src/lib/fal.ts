"use client";
import { fal } from "@fal-ai/client";

// The whole point: the browser holds no key. Every call goes to falgate, which checks the session and
// the endpoint, adds the key and forwards to fal.
fal.config({ proxyUrl: "/api/fal/proxy" });

export { fal };

/** The first image URL of a fal image output, if any. */
export function firstImage(output: unknown): string | null {
  const images = (output as { images?: { url?: unknown }[] } | null | undefined)?.images;
  const url = Array.isArray(images) ? images[0]?.url : undefined;
  return typeof url === "string" ? url : null;
}

let shimmed = false;

/**
 * Dev-only shim for mock mode: `@fal-ai/client` hard-codes `wss://fal.run` for `fal.realtime.connect`,
 * which the offline mock cannot answer. In mock mode only, the page's WebSocket is wrapped so those URLs
 * go to the mock instead (with the same fal token in `fal_jwt_token`). With a real FAL_KEY the shim is off
 * and the official client connects to fal.run as it always does.
 */
export function installMockFalShim(mockWsUrl: string): void {
  if (shimmed || typeof window === "undefined") return;
  shimmed = true;
  const Native = window.WebSocket;
  class MockFalWebSocket extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(String(url).replace(/^wss:\/\/fal\.run\//, `${mockWsUrl}/`), protocols);
    }
  }
  window.WebSocket = MockFalWebSocket;
}
