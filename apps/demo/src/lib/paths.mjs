// Paths shared by server.mjs and the page (no imports: the page's bundle takes this file as is).

/** Mock mode: the mock's CDN paths (images, uploads), served through the demo's own origin by server.mjs. */
export const MOCK_CDN_PATH = "/_cdn/";

/** Mock mode: where the page's dev-only shim sends the direct realtime path (wss://fal.run) instead. */
export const MOCK_REALTIME_PATH = "/_mock-fal";
