import { join } from "node:path";
import {
  bundleWorker,
  describeConformance,
  describeFalClient,
  type StartHandler,
  startWorker,
  WORKERD_ABORT_SKIP,
  WORKERD_TRUNCATION_SKIP,
} from "@falgate/testkit";

let bundle: Promise<string> | undefined;

/** The Hono app of fixtures/worker.ts in real workerd (miniflare), FAL_KEY as a binding read through `c.env`. */
const start: StartHandler = async ({ credentials, ...options }) => {
  bundle ??= bundleWorker(join(__dirname, "fixtures/worker.ts"));
  const worker = await startWorker(await bundle, {
    FAL_KEY: credentials,
    FALGATE_TEST_OPTIONS: JSON.stringify(options),
  });
  return { url: `${worker.origin}/api/fal/proxy`, close: worker.close };
};

describeConformance({
  name: "Hono on Workers (workerd)",
  start,
  unreachableCode: "upstream_error",
  skip: { abort: WORKERD_ABORT_SKIP, "truncated-chunked": WORKERD_TRUNCATION_SKIP },
});
describeFalClient({ name: "Hono on Workers (workerd)", start });
