import { DEFAULTS } from "../options/defaults.js";
import type { Logger } from "../types.js";
import {
  CALL_MESSAGE,
  type CallLogEntry,
  prettyCall,
  prettyTunnel,
  TUNNEL_MESSAGE,
  type TunnelLogEntry,
} from "./access-log.js";

/** A log line's severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** How {@link createLineLogger} renders a line. */
export type LogFormat = "pretty" | "json";

/** Options of {@link createLineLogger}. */
export interface LineLoggerOptions {
  /** Receives each rendered line, newline included (e.g. `(line) => process.stdout.write(line)`). */
  write: (line: string, level: LogLevel) => void;
  /** `pretty`: aligned and short, for a terminal; `json`: one JSON object per line. @default "pretty" */
  format?: LogFormat;
  /** Lowest level written. @default "info" */
  level?: LogLevel;
  /** The clock, ms since the epoch (tests pin it). @default Date.now */
  now?: () => number;
}

/** A {@link Logger} with every level. */
export type LineLogger = Required<Logger>;

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
const LABEL: Readonly<Record<LogLevel, string>> = {
  debug: "DEBUG",
  info: "INFO ",
  warn: "WARN ",
  error: "ERROR",
};

/**
 * A logger that renders lines itself: JSON lines (`{"time","level","msg",...fields}`) for log shippers, or aligned
 * human lines, with falgate's access-log entries in columns. Portable: it only calls `write`.
 * @example
 * const logger = createLineLogger({ format: "json", write: (line) => process.stdout.write(line) });
 */
export function createLineLogger(options: LineLoggerOptions): LineLogger {
  if (options === null || typeof options !== "object" || typeof options.write !== "function") {
    throw new TypeError("falgate: createLineLogger needs a `write(line)` function");
  }
  const format = options.format ?? DEFAULTS.observe.logFormat;
  if (format !== "pretty" && format !== "json") {
    throw new TypeError(`falgate: log format must be "pretty" or "json", got ${JSON.stringify(format)}`);
  }
  const level = options.level ?? DEFAULTS.observe.logLevel;
  if (!(level in RANK)) throw new TypeError(`falgate: unknown log level ${JSON.stringify(level)}`);
  const min = RANK[level];
  const { write } = options;
  const now = options.now ?? Date.now;
  const render = format === "json" ? jsonLine : prettyLine;

  const at =
    (lineLevel: LogLevel) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (RANK[lineLevel] < min) return;
      write(render(now(), lineLevel, message, fields), lineLevel);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** `{"time":"…","level":"info","msg":"…",...fields}\n`, with fields spliced in rather than copied. */
export function jsonLine(
  time: number,
  level: LogLevel,
  message: string,
  fields?: Record<string, unknown>,
): string {
  const head = `{"time":"${isoTime(time)}","level":"${level}","msg":${JSON.stringify(message)}`;
  if (fields === undefined || fields === null) return `${head}}\n`;
  let body: string | undefined;
  try {
    body = JSON.stringify(fields);
  } catch {
    // A bigint or a cycle: render what can be rendered rather than lose the line.
    body = JSON.stringify(fields, safeReplacer());
  }
  if (body === undefined || body.length <= 2 || body[0] !== "{") return `${head}}\n`;
  return `${head},${body.slice(1)}\n`;
}

// Busy proxies log many lines in the same millisecond: format each millisecond once.
let lastTime = Number.NaN;
let lastIso = "";
function isoTime(time: number): string {
  if (time !== lastTime) {
    lastTime = time;
    lastIso = new Date(time).toISOString();
  }
  return lastIso;
}

function safeReplacer(): (key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (_key, value) => {
    if (typeof value === "bigint") return value.toString();
    if (value instanceof Error) return `${value.name}: ${value.message}`;
    if (typeof value === "object" && value !== null) {
      if (seen.has(value)) return "[cycle]";
      seen.add(value);
    }
    return value;
  };
}

/** `HH:MM:SS.mmm LEVEL message key=value …\n` (local time); access-log entries in aligned columns. */
export function prettyLine(
  time: number,
  level: LogLevel,
  message: string,
  fields?: Record<string, unknown>,
): string {
  const head = `${clock(time)} ${LABEL[level]} `;
  if (fields) {
    if (message === CALL_MESSAGE) return `${head}${prettyCall(fields as Partial<CallLogEntry>)}\n`;
    if (message === TUNNEL_MESSAGE) return `${head}${prettyTunnel(fields as Partial<TunnelLogEntry>)}\n`;
  }
  let line = head + message;
  if (fields) {
    for (const key of Object.keys(fields)) line += ` ${key}=${value(fields[key])}`;
  }
  return `${line}\n`;
}

function value(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) return String(v);
  if (v instanceof Error) return JSON.stringify(`${v.name}: ${v.message}`);
  try {
    return JSON.stringify(v, safeReplacer()) ?? String(v);
  } catch {
    return String(v);
  }
}

function clock(time: number): string {
  const d = new Date(time);
  const two = (n: number) => (n < 10 ? `0${n}` : String(n));
  const ms = d.getMilliseconds();
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}`;
}
