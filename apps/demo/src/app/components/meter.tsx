"use client";
import { useEffect, useState, useSyncExternalStore } from "react";
import { clock, duration } from "../../lib/errors";
import {
  refreshUsage,
  serverUsageSnapshot,
  subscribeUsage,
  USAGE_URL,
  type Usage,
  usageSnapshot,
} from "../../lib/usage";

/** "minute", "hour", "30 s". */
function windowName(ms: number): string {
  const names: Record<number, string> = { 1000: "second", 60000: "minute", 3600000: "hour", 86400000: "day" };
  return names[ms] ?? duration(ms / 1000);
}

function level(left: number, limit: number): "ok" | "low" | "out" {
  if (left <= 0) return "out";
  return left / limit <= 0.3 ? "low" : "ok";
}

function Gauge(props: {
  label: string;
  value: string;
  fill: number;
  state: "ok" | "low" | "out" | "off";
  note: string;
  testId: string;
}) {
  return (
    <div className={`gauge ${props.state}`} data-testid={props.testId}>
      <span className="gauge-label">{props.label}</span>
      <strong className="gauge-value" data-testid={`${props.testId}-value`}>
        {props.value}
      </strong>
      <span className="bar" aria-hidden="true">
        <span style={{ width: `${Math.round(Math.min(1, Math.max(0, props.fill)) * 100)}%` }} />
      </span>
      <span className="gauge-note" data-testid={`${props.testId}-note`}>
        {props.note}
      </span>
    </div>
  );
}

function RateGauge(props: { rate: Usage["rate"]; at: number; now: number }) {
  const { rate } = props;
  if (!rate) {
    return (
      <Gauge
        label="Requests"
        value="not limited"
        fill={0}
        state="off"
        note="no rate limit"
        testId="meter-rate"
      />
    );
  }
  const per = windowName(rate.window);
  const nextIn = Math.max(0, (props.at + rate.resetMs - props.now) / 1000);
  return (
    <Gauge
      label={`Requests this ${per}`}
      value={`${rate.remaining} of ${rate.limit} left`}
      fill={rate.remaining / rate.limit}
      state={level(rate.remaining, rate.limit)}
      note={
        rate.remaining > 0
          ? `a sliding ${per}: calls free up as older ones age out`
          : `next one fits in ${duration(Math.ceil(nextIn))} (at ${clock(props.at + rate.resetMs, true)})`
      }
      testId="meter-rate"
    />
  );
}

function SlotsGauge(props: { concurrency: Usage["concurrency"] }) {
  const { concurrency } = props;
  if (!concurrency) {
    return (
      <Gauge label="In flight" value="not capped" fill={0} state="off" note="no cap" testId="meter-slots" />
    );
  }
  const free = concurrency.limit - concurrency.inFlight;
  return (
    <Gauge
      label="Calls in flight"
      value={`${concurrency.inFlight} of ${concurrency.limit} at once`}
      fill={concurrency.inFlight / concurrency.limit}
      state={free <= 0 ? "out" : concurrency.inFlight > 0 ? "low" : "ok"}
      note="runs and streams while they answer, queued jobs until they finish"
      testId="meter-slots"
    />
  );
}

function BudgetGauge(props: { budget: Usage["budget"]; now: number }) {
  const { budget } = props;
  if (!budget) {
    return (
      <Gauge label="Spend" value="no budget" fill={0} state="off" note="no budget" testId="meter-budget" />
    );
  }
  const resets =
    budget.resetsAt === null
      ? `the ${budget.period} starts with your first spend`
      : `resets at ${clock(budget.resetsAt, false)}, in ${duration(Math.max(60, (budget.resetsAt - props.now) / 1000))}`;
  return (
    <Gauge
      label={budget.period === "day" ? "Spend today" : `Spend this ${budget.period}`}
      value={`${budget.spent} of ${budget.limit} units`}
      fill={budget.spent / budget.limit}
      state={level(budget.remaining, budget.limit)}
      note={`fal's billable units; ${resets}`}
      testId="meter-budget"
    />
  );
}

/**
 * The signed-in user's limits, as falgate counts them: read from the usage route when the page loads and when a call
 * ends, moved by the RateLimit headers of every answer in between.
 */
export function UsageMeter(props: { signedIn: boolean }) {
  const { usage, at, error } = useSyncExternalStore(subscribeUsage, usageSnapshot, serverUsageSnapshot);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    if (props.signedIn) refreshUsage(0);
  }, [props.signedIn]);

  useEffect(() => {
    if (!props.signedIn) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [props.signedIn]);

  // When the rate window frees a call, read the counters again (once).
  const rate = usage?.rate;
  const freesAt = rate && rate.remaining === 0 ? at + rate.resetMs : null;
  useEffect(() => {
    if (freesAt === null) return;
    const timer = setTimeout(() => refreshUsage(0), Math.max(0, freesAt - Date.now()) + 250);
    return () => clearTimeout(timer);
  }, [freesAt]);

  return (
    <section className="card meter" data-testid="meter">
      <header>
        <h2>Your limits</h2>
        <code className="path">GET {USAGE_URL} · RateLimit headers on every answer</code>
      </header>
      {props.signedIn ? (
        usage ? (
          <>
            <div className="gauges">
              <RateGauge rate={usage.rate} at={at} now={Math.max(now, at)} />
              <SlotsGauge concurrency={usage.concurrency} />
              <BudgetGauge budget={usage.budget} now={now} />
            </div>
            <p className="muted small">
              falgate counts every call you make (<code>limits</code> in{" "}
              <code>src/lib/falgate-config.mjs</code>) and refuses the one past a limit before it reaches fal.
              Click around until one runs out: the card that made the call says what happened and when to try
              again.
            </p>
          </>
        ) : (
          <p className="muted" data-testid="meter-loading">
            {error ? `Could not read your counters: ${error}.` : "Reading your counters…"}
          </p>
        )
      ) : (
        <p className="muted" data-testid="meter-signed-out">
          Sign in to see your limits: falgate counts calls per signed-in user (requests per minute, calls at
          once, spend per day).
        </p>
      )}
    </section>
  );
}
