import { join } from "node:path";
import { bundleWorker, describeTunnelConformance, startWorker } from "@falgate/testkit";

let script: Promise<string> | undefined;

describeTunnelConformance({
  name: "Workers (WebSocketPair) in workerd",
  async start(options) {
    script ??= bundleWorker(join(__dirname, "fixtures/tunnel-conformance-worker.ts"));
    const worker = await startWorker(await script, {
      FAL_KEY: options.credentials,
      FALGATE_UPSTREAM: options.upstream,
      FALGATE_TOKEN_SECRET: options.secret,
      OPTIONS: JSON.stringify(options),
    });
    return { origin: worker.origin, close: worker.close };
  },
});
