import { startMockFal } from "@falgate/mock-fal";
import {
  conformanceOptions,
  describeConformance,
  describeFalClient,
  SAME_ORIGIN,
  send,
} from "@falgate/testkit";
import { apiResolver } from "next/dist/server/api-utils/node/api-resolver.js";
import { expect, test } from "vitest";
import { pagesStarter } from "./starters.js";

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
