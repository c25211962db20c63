import { type ClientOptions, WebSocket } from "ws";
import { FAL_HOSTS, UPSTREAM_HOST_HEADER } from "./hosts.js";

/** A fetch-compatible function (what `@fal-ai/client`'s `fetch` option takes). */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * A `fetch` that sends `https://{fal host}/...` to the mock (with the routing header), so the official
 * client can talk to the mock directly: `createFalClient({ credentials: mock.key, fetch: mockFalFetch(mock) })`.
 * Other URLs (the mock's own CDN URLs included) go to `base` unchanged.
 */
export function mockFalFetch(mock: { url: string }, base: FetchFunction = fetch): FetchFunction {
  return (input, init) => {
    const original = new URL(input instanceof Request ? input.url : String(input));
    if (original.protocol !== "https:" || !FAL_HOSTS.includes(original.hostname)) return base(input, init);
    const target = `${mock.url}${original.pathname}${original.search}`;
    if (input instanceof Request) {
      const request = new Request(target, input);
      request.headers.set(UPSTREAM_HOST_HEADER, original.hostname);
      return base(request, init);
    }
    const headers = new Headers(init?.headers);
    headers.set(UPSTREAM_HOST_HEADER, original.hostname);
    return base(target, { ...init, headers });
  };
}

/** A WebSocket constructor as browsers (and `@fal-ai/client`) use it, with ws's client options. */
export type MockWebSocketClass = (new (
  address: string | URL,
  protocols?: string | string[],
  options?: ClientOptions,
) => WebSocket) &
  Pick<typeof WebSocket, "CONNECTING" | "OPEN" | "CLOSING" | "CLOSED">;

/**
 * A `ws` WebSocket class that opens `wss://fal.run/...` on the mock instead (with the routing header).
 * Install it as `globalThis.WebSocket` to run `fal.realtime.connect` against the mock on Node 20.
 */
export function createMockWebSocket(mock: { wsUrl: string }): MockWebSocketClass {
  return class MockFalWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[], options?: ClientOptions) {
      const url = new URL(String(address));
      const ownOptions = options ?? {};
      const list = protocols;
      const mapped = url.protocol === "wss:" && FAL_HOSTS.includes(url.hostname);
      super(
        mapped ? `${mock.wsUrl}${url.pathname}${url.search}` : url,
        list,
        mapped
          ? { ...ownOptions, headers: { ...ownOptions.headers, [UPSTREAM_HOST_HEADER]: url.hostname } }
          : ownOptions,
      );
    }
  };
}
