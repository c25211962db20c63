// 1 MiB answers: GET a 1 MiB application/octet-stream body from the upstream's bulk source, 16 connections.
import { wrkWorkload } from "../lib/rounds.mjs";

export const ANSWER_BYTES = 1024 * 1024;

/** Runs the workload; one result per row. */
export function runLarge(ctx, fleet) {
  const t = ctx.timing;
  return wrkWorkload(ctx, fleet, {
    name: "large",
    path: `/bench/bytes/source?bytes=${ANSWER_BYTES}`,
    method: "GET",
    headers: {},
    connections: 16,
    seconds: t.largeSeconds,
    warmSeconds: 1,
    rounds: t.rounds,
    minBytes: ANSWER_BYTES,
    answerBytes: ANSWER_BYTES,
  });
}
