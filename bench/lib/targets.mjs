// The targets of issue 12 (and of the limits issue), judged on rows of the same run.
import { allRows, REFERENCES } from "./rows.mjs";

const MiB = 1024 * 1024;

const byId = (list, id) => list?.find((r) => r.id === id && !r.skipped);
const clean = (...rows) => rows.every((r) => r && !r.problems?.length);

/** A "≥ goal × reference" target on `metric` of a list of row results. */
function ratioTarget(text, list, id, refId, metric, goal) {
  const row = byId(list, id);
  const ref = byId(list, refId);
  if (!row || !ref) return { text, goal: `≥ ${goal.toFixed(2)}×`, verdict: "n/a", note: "row not run" };
  const value = row[metric] / ref[metric];
  return {
    text,
    measured: `${value.toFixed(2)}×`,
    goal: `≥ ${goal.toFixed(2)}×`,
    verdict: value >= goal ? "pass" : "FAIL",
    note: clean(row, ref) ? "" : "errors in these rows: see below",
  };
}

/** Each adapter row's framework floor (rows.mjs `floor`). */
const FLOORS = Object.fromEntries(allRows().flatMap((row) => (row.floor ? [[row.id, row.floor]] : [])));

/** What the framework alone reaches (its floor row × standalone) and this row × that floor; "" without one. */
function floorNote(list, id) {
  const row = byId(list, id);
  const floor = byId(list, FLOORS[id]);
  const base = byId(list, REFERENCES.standalone);
  if (!row?.rps || !floor?.rps || !base?.rps) return "";
  return (
    `the framework's floor (${floor.id}) reaches ${(floor.rps / base.rps).toFixed(2)}× standalone; ` +
    `this row ${(row.rps / floor.rps).toFixed(2)}× that floor`
  );
}

/**
 * Every target, in the order: `{ text, measured, goal, verdict: "pass" | "FAIL" | "n/a", note }`.
 * @param results the run's results by workload
 * @param limitsWired whether the limits rows really had limits (procs/falgate.mjs LIMITS_WIRED)
 */
export function evaluateTargets(results, { limitsWired }) {
  const c16 = results.json?.c16;
  const c1 = results.json?.c1;
  const { passthrough, replyFrom, hpm, standalone } = REFERENCES;
  const targets = [
    ratioTarget(
      "Small JSON, 16 conn.: falgate standalone vs bare pass-through (req/s)",
      c16,
      standalone,
      passthrough,
      "rps",
      0.85,
    ),
    ratioTarget(
      "Small JSON, 16 conn.: falgate standalone vs @fastify/reply-from (req/s)",
      c16,
      standalone,
      replyFrom,
      "rps",
      1.0,
    ),
    ratioTarget(
      "Small JSON, 16 conn.: falgate standalone vs http-proxy-middleware (req/s)",
      c16,
      standalone,
      hpm,
      "rps",
      1.3,
    ),
  ];

  const text = "Small JSON, 1 conn.: falgate standalone p50 − pass-through p50";
  const row = byId(c1, standalone);
  const ref = byId(c1, passthrough);
  if (row && ref) {
    const added = row.p50 - ref.p50;
    targets.push({
      text,
      measured: `${added >= 0 ? "+" : ""}${added.toFixed(3)} ms`,
      goal: "≤ +0.100 ms",
      verdict: added <= 0.1 ? "pass" : "FAIL",
      note: clean(row, ref) ? "" : "errors in these rows: see below",
    });
  } else targets.push({ text, goal: "≤ +0.100 ms", verdict: "n/a", note: "row not run" });

  targets.push(
    ratioTarget(
      "1 MiB answers: falgate standalone vs bare pass-through (req/s)",
      results.large,
      standalone,
      passthrough,
      "rps",
      0.9,
    ),
  );

  for (const entry of results.upload ?? []) {
    if (!entry.id.startsWith("falgate") || entry.skipped) continue;
    const growth = entry.growth / MiB;
    targets.push({
      text: `Uploads (4 × 20 MiB at once): ${entry.label}, peak RSS growth`,
      measured: `${growth.toFixed(1)} MiB`,
      goal: "≤ 32 MiB",
      verdict: entry.errors ? "FAIL" : growth <= 32 ? "pass" : "FAIL",
      note: entry.errors ? "uploads failed" : "",
    });
  }

  for (const id of ["falgate-express", "falgate-hono", "falgate-next", "falgate-next-pages"]) {
    const label = byId(c16, id)?.label ?? id;
    const target = ratioTarget(
      `Small JSON, 16 conn.: ${label} vs falgate standalone`,
      c16,
      id,
      standalone,
      "rps",
      0.85,
    );
    targets.push({ ...target, note: [target.note, floorNote(c16, id)].filter(Boolean).join("; ") });
  }

  if (byId(c16, "falgate-limits-memory")) {
    const target = ratioTarget(
      "Limits in memory vs no limits, small JSON 16 conn. (req/s)",
      c16,
      "falgate-limits-memory",
      standalone,
      "rps",
      0.95,
    );
    targets.push(limitsWired ? target : { ...target, verdict: "n/a", note: "limits not wired yet" });
  }
  const redisRow = byId(c1, "falgate-limits-redis");
  if (redisRow) {
    const base = byId(c1, standalone);
    const trip = results.redis?.admission?.p50;
    const added = base ? redisRow.p50 - base.p50 : undefined;
    const target = {
      text: "Limits in Redis, 1 conn.: p50 − falgate standalone p50, vs one round trip (an admission script) p50",
      measured: added === undefined ? "–" : `${added >= 0 ? "+" : ""}${added.toFixed(3)} ms`,
      goal: trip === undefined ? "≤ 1 round trip" : `≤ +${trip.toFixed(3)} ms`,
      verdict: added === undefined || trip === undefined ? "n/a" : added <= trip ? "pass" : "FAIL",
      note: "",
    };
    targets.push(limitsWired ? target : { ...target, verdict: "n/a", note: "limits not wired yet" });
  }
  return targets;
}
