import type { Budget } from "./options.js";

const DAY = 86_400_000;
/** A rolling "month": 30 days. */
const ROLLING_MONTH = 30 * DAY;
/** Totals outlive their period a little, so an instance whose clock runs behind still reads the right one. */
const GRACE = 3_600_000;

/** The budget period an instant falls in. */
export interface BudgetWindow {
  /** Names the period in store keys: `d2026-12-03`, `m2026-12`, or `rd` / `rm` for rolling periods. */
  id: string;
  /** Calendar periods: first and last instant (exclusive), ms since the epoch; `0` for rolling periods. */
  start: number;
  end: number;
  /** Period length in ms (a calendar month's own length). */
  length: number;
  /** How long a total created now must be kept. */
  ttl: number;
}

/** Computes budget periods, remembering the current one until it ends. */
export function budgetWindows(budget: Budget): (at: number) => BudgetWindow {
  if (budget.mode === "rolling") {
    const length = budget.period === "day" ? DAY : ROLLING_MONTH;
    const window: BudgetWindow = {
      id: budget.period === "day" ? "rd" : "rm",
      start: 0,
      end: 0,
      length,
      ttl: length,
    };
    return () => window;
  }
  const zoned = budget.timeZone === "UTC" ? null : zonedParts(budget.timeZone);
  const parts: (at: number) => DateParts = zoned ?? utcParts;
  const toInstant = zoned ? zonedInstant(zoned) : (y: number, m: number, d: number) => Date.UTC(y, m, d);
  let current: BudgetWindow | null = null;
  return (at) => {
    if (current && at >= current.start && at < current.end)
      return { ...current, ttl: current.end - at + GRACE };
    const { year, month, day } = parts(at);
    const pad = (n: number) => String(n).padStart(2, "0");
    const daily = budget.period === "day";
    const start = daily ? toInstant(year, month - 1, day) : toInstant(year, month - 1, 1);
    const end = daily ? toInstant(year, month - 1, day + 1) : toInstant(year, month, 1);
    const id = daily ? `d${year}-${pad(month)}-${pad(day)}` : `m${year}-${pad(month)}`;
    current = { id, start, end, length: end - start, ttl: 0 };
    return { ...current, ttl: end - at + GRACE };
  };
}

interface DateParts {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
}

function utcParts(at: number): DateParts {
  const d = new Date(at);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The wall-clock date and time in `timeZone` at an instant. */
function zonedParts(
  timeZone: string,
): (at: number) => DateParts & { hour: number; minute: number; second: number } {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  });
  return (at) => {
    const out: Record<string, number> = {};
    for (const part of format.formatToParts(at))
      if (part.type !== "literal") out[part.type] = Number(part.value);
    return {
      year: out.year!,
      month: out.month!,
      day: out.day!,
      hour: out.hour!,
      minute: out.minute!,
      second: out.second!,
    };
  };
}

/** The instant the wall clock of the zone shows midnight of (year, monthIndex, day); days and months may overflow. */
function zonedInstant(
  parts: (at: number) => DateParts & { hour: number; minute: number; second: number },
): (year: number, monthIndex: number, day: number) => number {
  const offset = (at: number) => {
    const p = parts(at);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(at / 1000) * 1000;
  };
  return (year, monthIndex, day) => {
    const wall = Date.UTC(year, monthIndex, day);
    // Two passes settle the offset, DST changes included (a midnight that does not exist lands an hour off).
    let at = wall - offset(wall);
    at = wall - offset(at);
    return at;
  };
}
