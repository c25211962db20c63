import { parseArgs } from "node:util";
import { allowedHostsSetting, DEFAULTS, type LogFormat } from "@falgate/core";
import { SERVER_DEFAULTS, type ServerOptions } from "./server.js";

/** How the command logs: the line format, and whether calls get a line each. */
export interface CliLogOptions {
  format: LogFormat;
  /** No line per call and per tunnel (warnings and errors still print). */
  quiet: boolean;
}

/** What the command line asks for. */
export type CliCommand =
  | { kind: "help" }
  | {
      kind: "serve";
      options: ServerOptions;
      log: CliLogOptions;
      /** Count limits (and single-use tokens, tunnel slots) in this Redis, shared by every instance pointing at it. */
      redisUrl?: string;
    };

/** A command-line mistake; the message is meant for the person who typed it. */
export class CliError extends Error {
  override readonly name = "CliError";
}

/** The `falgate --help` text. */
export const CLI_HELP = `falgate — the fal.ai authentication proxy as a standalone server

Usage: falgate [options]

Options (each also read from the environment variable shown; flags win):
  -p, --port <n>                 Port to listen on                      FALGATE_PORT, PORT   [3000]
      --host <addr>              Interface to bind (0.0.0.0 for all)     FALGATE_HOST         [127.0.0.1]
      --path <path>              Proxy route (sub-paths served too)      FALGATE_PATH         [/api/fal/proxy]
      --allowed-endpoints <list> Comma list of app ids, e.g.             FALGATE_ALLOWED_ENDPOINTS [all]
                                 "fal-ai/flux/*,fal-ai/fast-sdxl"
      --allowed-origins <list>   Browser origins allowed cross-origin    FALGATE_ALLOWED_ORIGINS   [none]
                                 (with CORS), e.g. https://app.example.com
      --allowed-hosts <list>     Names this server answers to besides    FALGATE_ALLOWED_HOSTS     [none]
                                 IPs, localhost and --allowed-origins
                                 (DNS rebinding), e.g. api.example.com,
                                 .example.com; "all" turns the check off
      --webhook-origins <list>   Origins allowed in ?fal_webhook=        FALGATE_WEBHOOK_ORIGINS   [none]
      --allow-unauthenticated    Let anyone call (local development      FALGATE_ALLOW_UNAUTHENTICATED=1
                                 only: spends your credits)
      --upstream <url>           Send fal traffic to another origin      FALGATE_UPSTREAM
                                 (a local mock, staging)
      --max-body-size <size>     Largest request body: bytes or 10mb,    FALGATE_MAX_BODY_SIZE [32mb]
                                 512kb, 1gb
      --trust-proxy              Use X-Forwarded-Proto/Host (URL) and    FALGATE_TRUST_PROXY=1
                                 the last X-Forwarded-For (address)
      --shutdown-timeout <ms>    Grace period for in-flight requests     FALGATE_SHUTDOWN_TIMEOUT [10000]
      --metrics                  Serve Prometheus metrics at GET         FALGATE_METRICS=1    [off]
                                 /metrics on the proxy's port
      --metrics-port <n>         Serve them on this port instead (keep   FALGATE_METRICS_PORT [off]
                                 it private; implies --metrics)
      --log-format <format>      pretty (aligned, for a terminal) or     FALGATE_LOG_FORMAT   [pretty]
                                 json (one object per line)
  -q, --quiet                    No line per call (warnings still        FALGATE_QUIET=1
                                 print)
      --rate-limit <n>/<unit>    Calls per principal per window, e.g.    FALGATE_RATE_LIMIT   [none]
                                 60/min (units s, min, h, day)
      --max-concurrent <n>       fal calls in flight per principal       FALGATE_MAX_CONCURRENT [none]
      --max-concurrent-total <n> fal calls in flight, whole account      FALGATE_MAX_CONCURRENT_TOTAL [none]
      --budget <units>/<period>  Spend per principal, e.g. 100/day       FALGATE_BUDGET       [none]
                                 (fal billable units; periods day, month)
      --redis-url <url>          Share limits, single-use tokens and     FALGATE_REDIS_URL    [in memory]
                                 tunnel slots between instances
                                 (redis://, rediss://, or a socket path;
                                 needs @falgate/redis and ioredis)
  -h, --help                     Show this help

The fal key is read from FAL_KEY (or FAL_KEY_ID and FAL_KEY_SECRET), never from a flag:
command lines are visible to every user of the machine (ps).

Without --allow-unauthenticated only same-origin browser calls and --allowed-origins are accepted; either
way the server answers only to IP addresses, localhost, the hosts of --allowed-origins and --allowed-hosts.
One line per call (decision, principal, endpoint, method, status, duration, bytes; never a key or a token) on
stdout, warnings and errors on stderr. Spans go to the OpenTelemetry SDK you preload, e.g.
NODE_OPTIONS="--import ./tracing.mjs" falgate. Health check: GET /healthz. SIGINT/SIGTERM shut down gracefully.
`;

type Env = Readonly<Record<string, string | undefined>>;

const KEY_FLAGS = /^--?(fal-?)?(key|key-id|key-secret|credentials|secret)(=|$)/i;

/**
 * Parses `falgate` arguments and environment into server options (pure: no I/O, no process globals).
 * Throws {@link CliError} on a bad flag or value.
 * @example
 * parseCliArgs(["--port", "8080"], { FALGATE_ALLOW_UNAUTHENTICATED: "1" });
 */
export function parseCliArgs(argv: readonly string[], env: Env = {}): CliCommand {
  const keyFlag = argv.find((arg) => KEY_FLAGS.test(arg));
  if (keyFlag !== undefined) {
    throw new CliError(
      `${keyFlag.split("=")[0]} is not accepted: pass the fal key in the FAL_KEY environment variable (or FAL_KEY_ID and FAL_KEY_SECRET), never on the command line.`,
    );
  }
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return { kind: "help" };

  const pick = (flag: string | undefined, ...names: string[]): string | undefined => {
    if (flag !== undefined) return flag;
    for (const name of names) {
      const value = env[name];
      if (value !== undefined && value.trim() !== "") return value.trim();
    }
    return undefined;
  };
  const options: ServerOptions = {};

  const port = pick(values.port, "FALGATE_PORT", "PORT");
  if (port !== undefined) options.port = integer("--port", port, 0, 65_535);
  const host = pick(values.host, "FALGATE_HOST");
  if (host !== undefined) options.host = host;
  const path = pick(values.path, "FALGATE_PATH");
  if (path !== undefined) {
    if (!path.startsWith("/")) throw new CliError(`--path must start with "/", got ${JSON.stringify(path)}`);
    options.path = path;
  }
  const endpoints = list(pick(values["allowed-endpoints"], "FALGATE_ALLOWED_ENDPOINTS"));
  if (endpoints) options.allowedEndpoints = endpoints;
  const origins = list(pick(values["allowed-origins"], "FALGATE_ALLOWED_ORIGINS"));
  if (origins) options.allowedOrigins = origins;
  let hosts: true | string[] | undefined;
  try {
    hosts = allowedHostsSetting(pick(values["allowed-hosts"], "FALGATE_ALLOWED_HOSTS"));
  } catch (error) {
    throw new CliError(
      `--allowed-hosts ${(error as Error).message.replace(/^falgate: option `allowedHosts` /, "")}`,
    );
  }
  if (hosts !== undefined) options.allowedHosts = hosts;
  const webhooks = list(pick(values["webhook-origins"], "FALGATE_WEBHOOK_ORIGINS"));
  if (webhooks) options.webhookOrigins = webhooks;
  if (values["allow-unauthenticated"] || flag("FALGATE_ALLOW_UNAUTHENTICATED", env))
    options.allowUnauthenticated = true;
  if (values["trust-proxy"] || flag("FALGATE_TRUST_PROXY", env)) options.trustProxy = true;

  const upstream = pick(values.upstream, "FALGATE_UPSTREAM");
  if (upstream !== undefined) {
    let url: URL;
    try {
      url = new URL(upstream);
    } catch {
      throw new CliError(`--upstream must be an http(s) URL, got ${JSON.stringify(upstream)}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new CliError(`--upstream must be an http(s) URL, got ${JSON.stringify(upstream)}`);
    }
    options.upstream = upstream;
  }
  const maxBody = pick(values["max-body-size"], "FALGATE_MAX_BODY_SIZE");
  if (maxBody !== undefined) options.maxBodySize = byteSize("--max-body-size", maxBody);
  const grace = pick(values["shutdown-timeout"], "FALGATE_SHUTDOWN_TIMEOUT");
  if (grace !== undefined) options.shutdownTimeout = integer("--shutdown-timeout", grace, 0, 3_600_000);

  const metricsPort = pick(values["metrics-port"], "FALGATE_METRICS_PORT");
  if (metricsPort !== undefined) {
    const port = integer("--metrics-port", metricsPort, 0, 65_535);
    if (port !== 0 && port === (options.port ?? SERVER_DEFAULTS.port)) {
      throw new CliError(
        `--metrics-port must differ from the proxy's port (${port}); use --metrics to serve them on that port`,
      );
    }
    options.metrics = { port };
  } else if (values.metrics || flag("FALGATE_METRICS", env)) {
    options.metrics = true;
  }
  const format = pick(values["log-format"], "FALGATE_LOG_FORMAT") ?? DEFAULTS.observe.logFormat;
  if (format !== "pretty" && format !== "json") {
    throw new CliError(`--log-format must be "pretty" or "json", got ${JSON.stringify(format)}`);
  }
  const quiet = values.quiet === true || flag("FALGATE_QUIET", env);

  const limits: NonNullable<ServerOptions["limits"]> = {};
  const rate = pick(values["rate-limit"], "FALGATE_RATE_LIMIT");
  if (rate !== undefined) {
    if (!/^\d+\/(s|min|h|day)$/.test(rate)) {
      throw new CliError(
        `--rate-limit must look like 60/min (units s, min, h, day), got ${JSON.stringify(rate)}`,
      );
    }
    limits.rate = rate as `${number}/min`;
  }
  const concurrent = pick(values["max-concurrent"], "FALGATE_MAX_CONCURRENT");
  if (concurrent !== undefined) limits.maxConcurrent = integer("--max-concurrent", concurrent, 1, 1_000_000);
  const total = pick(values["max-concurrent-total"], "FALGATE_MAX_CONCURRENT_TOTAL");
  if (total !== undefined)
    limits.maxConcurrentTotal = integer("--max-concurrent-total", total, 1, 10_000_000);
  const budget = pick(values.budget, "FALGATE_BUDGET");
  if (budget !== undefined) {
    if (!/^\d+(\.\d+)?\/(day|month)$/.test(budget)) {
      throw new CliError(`--budget must look like 100/day or 2000/month, got ${JSON.stringify(budget)}`);
    }
    limits.budget = budget as `${number}/day`;
  }
  if (Object.keys(limits).length > 0) options.limits = limits;
  const redisUrl = pick(values["redis-url"], "FALGATE_REDIS_URL");
  if (redisUrl !== undefined && !/^(rediss?:\/\/|\/)/.test(redisUrl)) {
    throw new CliError(
      `--redis-url must be a redis:// or rediss:// URL (or the path of a unix socket), got ${JSON.stringify(redisUrl)}`,
    );
  }
  return { kind: "serve", options, log: { format, quiet }, ...(redisUrl === undefined ? {} : { redisUrl }) };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: "string", short: "p" },
      host: { type: "string" },
      path: { type: "string" },
      "allowed-endpoints": { type: "string" },
      "allowed-origins": { type: "string" },
      "allowed-hosts": { type: "string" },
      "webhook-origins": { type: "string" },
      "allow-unauthenticated": { type: "boolean" },
      upstream: { type: "string" },
      "max-body-size": { type: "string" },
      "trust-proxy": { type: "boolean" },
      "shutdown-timeout": { type: "string" },
      metrics: { type: "boolean" },
      "metrics-port": { type: "string" },
      "log-format": { type: "string" },
      quiet: { type: "boolean", short: "q" },
      "rate-limit": { type: "string" },
      "max-concurrent": { type: "string" },
      "max-concurrent-total": { type: "string" },
      budget: { type: "string" },
      "redis-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
  return items.length > 0 ? items : undefined;
}

function flag(name: string, env: Env): boolean {
  const value = env[name]?.trim().toLowerCase();
  return value === "1" || value === "true" || value === "yes" || value === "on";
}

function integer(option: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value))
    throw new CliError(`${option} must be a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new CliError(`${option} must be between ${min} and ${max}, got ${n}`);
  return n;
}

const UNITS: Readonly<Record<string, number>> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `1048576`, `512kb`, `10mb`, `10MiB`, `1g` → bytes (binary units: sizes of bodies, not disks). */
function byteSize(option: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(value.trim());
  const unit = UNITS[match?.[2]?.toLowerCase() ?? ""];
  if (!match || unit === undefined) {
    throw new CliError(
      `${option} must be a size like 1048576, 512kb, 10mb or 1gb, got ${JSON.stringify(value)}`,
    );
  }
  return Math.floor(Number(match[1]) * unit);
}
