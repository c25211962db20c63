import { createServer } from "node:http";
import { startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  describeConformance,
  describeFalClient,
  listen,
  SAME_ORIGIN,
  type StartHandler,
  send,
  silentLogger,
} from "@falgate/testkit";
import { apiResolver } from "next/dist/server/api-utils/node/api-resolver.js";
import { expect, test } from "vitest";
import { createFalgateHandler } from "../src/pages.js";

const PATH = "/api/fal/proxy";
const PREVIEW = { previewModeId: "x", previewModeEncryptionKey: "x", previewModeSigningKey: "x" };

/** A real http server that runs the API route through Next's own API resolver (body parser, res helpers). */
function starter(config: { api: { bodyParser?: false; responseLimit?: false } }): StartHandler {
  return async (options) => {
    const module = { default: createFalgateHandler({ ...options, logger: silentLogger() }), config };
    const server = await listen(
      createServer((req, res) => {
        void apiResolver(req, res, {}, module, { ...PREVIEW, dev: false }, false, false, PATH);
      }),
    );
    return { url: `${server.origin}${PATH}`, close: server.close };
  };
}

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
