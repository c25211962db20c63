import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  describeConformance,
  describeFalClient,
  firstGzippedEvent,
  listen,
  SAME_ORIGIN,
  send,
  silentLogger,
} from "@falgate/testkit";
import { apiResolver } from "next/dist/server/api-utils/node/api-resolver.js";
import { expect, test } from "vitest";
import { createFalgateHandler } from "../src/pages.js";
import { PATH, pagesStarter } from "./starters.js";

/** The `compression` middleware `next start` wraps every response in (Next's compiled copy, untyped). */
const compression = createRequire(import.meta.url)("next/dist/compiled/compression") as () => (
  req: IncomingMessage,
  res: ServerResponse,
  next: () => void,
) => void;

const starter = (config: Parameters<typeof pagesStarter>[1]) => pagesStarter(apiResolver, config);

// What docs/adapters/next.md tells users to export from the page.
const documented = starter({ api: { bodyParser: false, responseLimit: false } });

describeConformance({ name: "Next Pages Router (bodyParser: false)", start: documented });
describeFalClient({ name: "Next Pages Router (bodyParser: false)", start: documented });

test("with Next's default body parser left on, a JSON body is still forwarded (re-encoded)", async () => {
  const mock = await startMockFal();
  const gate = await starter({ api: {} })(conformanceOptions(mock));
  try {
    const a = await send(gate.url, {
      method: "POST",
      headers: {
        ...SAME_ORIGIN,
        "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl",
        "content-type": "application/json",
      },
      body: JSON.stringify({ prompt: "parsed by next" }),
    });
    expect(a.status).toBe(200);
    const seen = await mock.waitForRequest((r) => r.method === "POST");
    expect(seen.json).toEqual({ prompt: "parsed by next" });
    expect(seen.headers["content-length"]).toBe(String(seen.bodyLength));
  } finally {
    await gate.close();
    await mock.close();
  }
});

test("behind the compression `next start` applies, an SSE answer to accept-encoding: gzip is not held back", async () => {
  // Every /stream answer lasts a minute: its first event arrives in time only if nothing holds it back.
  const mock = await startMockFal({ runMs: 60_000 });
  const module = {
    default: createFalgateHandler({ ...conformanceOptions(mock), logger: silentLogger() }),
    config: { api: { bodyParser: false, responseLimit: false } },
  };
  const compress = compression();
  const preview = { previewModeId: "x", previewModeEncryptionKey: "x", previewModeSigningKey: "x" };
  // What Next's router server does for every request: compress(req, res, noop), then the route.
  const server = await listen(
    createServer((req, res) => {
      compress(req, res, () => undefined);
      void apiResolver(req, res, {}, module, { ...preview, dev: false }, false, false, PATH);
    }),
  );
  try {
    const first = await firstGzippedEvent(`${server.origin}${PATH}`);
    expect(first).toMatchObject({ status: 200, encoding: "gzip" });
    expect((first.event as { images: unknown[] }).images).toHaveLength(1);
    expect(mock.requests.find((r) => r.path.endsWith("/stream"))?.finishedAt).toBeUndefined();
  } finally {
    await server.close();
    await mock.close();
  }
});
