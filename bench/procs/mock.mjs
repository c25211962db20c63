// mock-fal in its own process: the fal-compatible upstream of the JSON, SSE and realtime scenarios.
import { runChild } from "../lib/child.mjs";
import { distUrl } from "../lib/deps.mjs";

const { startMockFal } = await import(distUrl("mock-fal"));

runChild(async (config) => {
  const mock = await startMockFal({
    runMs: config.runMs ?? 150,
    // The bench sends tens of thousands of requests: keep the request log small and bodies out of it.
    maxRecords: 100,
    recordBodyLimit: 0,
  });
  return { info: { url: mock.url, wsUrl: mock.wsUrl, key: mock.key }, close: () => mock.close() };
});
