// Small JSON `fal.run` POSTs (mock-fal's echo app answers the body back): throughput at 16 keep-alive
// connections, then latency on one connection.
import { wrkWorkload } from "../lib/rounds.mjs";

const BODY = JSON.stringify({ prompt: "a lighthouse at dusk, oil painting", seed: 42, num_images: 1 });
const REQUEST = {
  path: "/fal-ai/echo",
  method: "POST",
  headers: { "content-type": "application/json" },
  body: BODY,
  // The echoed body plus a minimal status line and headers.
  minBytes: BODY.length + 60,
};

/** Runs both parts; returns `{ c16, c1 }`, one result per row each. */
export async function runJson(ctx, fleet) {
  const t = ctx.timing;
  const c16 = await wrkWorkload(ctx, fleet, {
    ...REQUEST,
    name: "json-c16",
    connections: 16,
    seconds: t.seconds,
    warmSeconds: t.warmSeconds,
    rounds: t.rounds,
  });
  const c1 = await wrkWorkload(ctx, fleet, {
    ...REQUEST,
    name: "json-c1",
    connections: 1,
    seconds: t.latencySeconds,
    warmSeconds: 1,
    rounds: t.rounds,
  });
  return { c16, c1 };
}
