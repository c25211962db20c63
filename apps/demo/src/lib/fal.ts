"use client";
import { fal } from "@fal-ai/client";
import { MOCK_REALTIME_PATH } from "./paths.mjs";
import { noteLimitHeaders, noteRefusal } from "./usage";

/** Where falgate is mounted (the Next route `api/fal/proxy/[[...path]]`). */
export const PROXY_URL = "/api/fal/proxy";

/** falgate's limit refusals (429): the page shows them at once instead of letting the client retry. */
const LIMIT_CODES = new Set(["rate_limited", "concurrency_limited", "budget_exhausted"]);

interface FalgateErrorBody {
  error: { code: string; message: string };
}

/**
 * A limit refusal from falgate, thrown by {@link falgateFetch}. It carries what `describeError` reads (`status`,
 * `body`) and the answer's Retry-After, in seconds.
 */
export class LimitRefusal extends Error {
  override readonly name = "LimitRefusal";
  readonly status = 429;
  constructor(
    readonly body: FalgateErrorBody,
    readonly retryAfter: number | null,
  ) {
    super(body.error.message);
  }
}

function isLimitBody(body: unknown): body is FalgateErrorBody {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof error?.message === "string" && typeof error.code === "string" && LIMIT_CODES.has(error.code);
}

function isProxyUrl(url: string): boolean {
  const target = new URL(url, window.location.href);
  return (
    target.origin === window.location.origin &&
    (target.pathname === PROXY_URL || target.pathname.startsWith(`${PROXY_URL}/`))
  );
}

/**
 * The `fetch` the client uses. For answers from falgate it (1) hands the RateLimit headers to the usage meter, and
 * (2) turns a limit refusal into a thrown {@link LimitRefusal}. The official client retries every 429 up to three
 * times on its own schedule (about 1, 2 and 4 s, whatever Retry-After says), and queue submits always do; a limit
 * does not clear that fast, so the card would sit on "submitting" for seven seconds and then say the same thing.
 * An error that is not an `ApiError` is never retried, so the page shows the refusal at once and says when to try
 * again. Streams are left alone: the client never retries them and reads falgate's JSON answer itself.
 */
export async function falgateFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const response = await fetch(input, init);
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (!isProxyUrl(url)) return response;
  noteLimitHeaders(response.headers);
  if (response.status === 429) {
    const body: unknown = await response
      .clone()
      .json()
      .catch(() => null);
    if (isLimitBody(body)) {
      const retryAfter = Number(response.headers.get("retry-after"));
      const seconds = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : null;
      noteRefusal(body.error.code, seconds);
      const accept = new Headers(init?.headers).get("accept") ?? "";
      if (!accept.includes("text/event-stream")) throw new LimitRefusal(body, seconds);
    }
  }
  return response;
}

// The whole point: the browser holds no key. Every call goes to falgate, which checks the session and
// the endpoint, counts it against the limits, adds the key and forwards to fal.
fal.config({ proxyUrl: PROXY_URL, fetch: falgateFetch });

export { fal };

/** The first image URL of a fal image output, if any. */
export function firstImage(output: unknown): string | null {
  const images = (output as { images?: { url?: unknown }[] } | null | undefined)?.images;
  const url = Array.isArray(images) ? images[0]?.url : undefined;
  return typeof url === "string" ? url : null;
}

let shimmed = false;

/**
 * Dev-only shim for mock mode: `@fal-ai/client` hard-codes `wss://fal.run` for `fal.realtime.connect`, which the
 * offline mock cannot answer. In mock mode only, the page's WebSocket is wrapped so those URLs go to this page's own
 * server (`MOCK_REALTIME_PATH`), which relays them to the mock (same fal token in `fal_jwt_token`): the browser never
 * needs the mock's own port. With a real FAL_KEY the shim is off and the official client connects to fal.run as it
 * always does.
 */
export function installMockFalShim(): void {
  if (shimmed || typeof window === "undefined") return;
  shimmed = true;
  const base = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}${MOCK_REALTIME_PATH}/`;
  const Native = window.WebSocket;
  class MockFalWebSocket extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(String(url).replace(/^wss:\/\/fal\.run\//, base), protocols);
    }
  }
  window.WebSocket = MockFalWebSocket;
}
