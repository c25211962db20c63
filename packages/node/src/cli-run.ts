import {
  createLineLogger,
  DEFAULTS,
  type FalgateEnv,
  type LineLogger,
  type Logger,
  type LogLevel,
  type Store,
} from "@falgate/core";
import { CLI_HELP, CliError, parseCliArgs } from "./cli-args.js";
import { type RunningServer, startServer } from "./server.js";

/** The process around the `falgate` command, injected so the command runs in tests as it runs in a terminal. */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** A started `falgate` command. */
export interface CliRun {
  /** The exit code of a command that is already over (help, a bad flag), or `null` while the server runs. */
  exitCode: number | null;
  /** The running server, or `null`. */
  server: RunningServer | null;
  /** The command's logger (one line per call unless quiet), or `null`. */
  logger: LineLogger | null;
}

/**
 * Runs the `falgate` command: parses flags and env, starts the standalone server with a line logger (pretty or
 * JSON lines; info on stdout, warnings and errors on stderr), an access log unless quiet, and tracing through the
 * OpenTelemetry API. Never exits the process: `bin` does that.
 * @example
 * const run = await runCli(["--port", "0"], { env: process.env, stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<CliRun> {
  let command: ReturnType<typeof parseCliArgs>;
  try {
    command = parseCliArgs(argv, io.env);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    io.stderr(`falgate: ${error.message}\nRun \`falgate --help\` for the options.\n`);
    return { exitCode: 2, server: null, logger: null };
  }
  if (command.kind === "help") {
    io.stdout(`${CLI_HELP}\n`);
    return { exitCode: 0, server: null, logger: null };
  }
  const { options, log, redisUrl } = command;
  const logger = createLineLogger({
    format: log.format,
    write: (line: string, level: LogLevel) =>
      (level === "warn" || level === "error" ? io.stderr : io.stdout)(line),
  });
  const env = io.env;
  if (!env.FAL_KEY && !(env.FAL_KEY_ID && env.FAL_KEY_SECRET)) {
    logger.warn("FAL_KEY is not set; every proxied call will answer 500 missing_credentials.");
  }
  let redis: { store: Store; disconnect(): void } | undefined;
  if (redisUrl !== undefined) {
    try {
      redis = await redisStore(redisUrl, logger);
    } catch (error) {
      io.stderr(`falgate: ${error instanceof Error ? error.message : String(error)}\n`);
      return { exitCode: 2, server: null, logger: null };
    }
  }
  let server: RunningServer;
  try {
    server = await startServer({
      ...options,
      // process.env is the Node binding's platform env already (read live); another env object (tests) goes on top.
      ...(env === process.env ? {} : { env: env as FalgateEnv }),
      ...(redis ? { store: redis.store } : {}),
      logger,
      accessLog: !log.quiet,
      tracing: true,
    });
  } catch (error) {
    redis?.disconnect();
    // A limits value the core refuses (e.g. a budget of 0) is a command-line mistake too.
    if (!(error instanceof TypeError)) throw error;
    io.stderr(
      `falgate: ${error.message.replace(/^falgate: /, "")}\nRun \`falgate --help\` for the options.\n`,
    );
    return { exitCode: 2, server: null, logger: null };
  }
  logger.info(`proxy listening on ${server.url}${options.path ?? DEFAULTS.path}`);
  if (server.metricsUrl) logger.info(`metrics at ${server.metricsUrl}`);
  if (options.upstream) logger.info(`fal traffic goes to ${options.upstream}`);
  if (redisUrl !== undefined)
    logger.info("limits, single-use tokens and tunnel slots are shared through Redis");
  return { exitCode: null, server, logger };
}

/** The part of an ioredis client the command uses. */
interface RedisClient {
  on(event: "error", listener: (error: Error) => void): void;
  disconnect(): void;
}

/** The shape of the two optional packages `--redis-url` needs (loaded only then). */
interface RedisModules {
  ioredis: {
    Redis: new (url: string, options: object) => RedisClient;
  };
  store: { createRedisStore(client: unknown): Store };
}

/**
 * A Redis store for `--redis-url`, from `@falgate/redis` and `ioredis` (optional peer dependencies of this package,
 * loaded only when asked for). The client fails fast while Redis is away (no offline queue) and reconnects by itself.
 */
async function redisStore(url: string, logger: Logger): Promise<{ store: Store; disconnect(): void }> {
  const load = (name: string): Promise<unknown> => import(name);
  let modules: RedisModules;
  try {
    modules = {
      ioredis: (await load("ioredis")) as RedisModules["ioredis"],
      store: (await load("@falgate/redis")) as RedisModules["store"],
    };
  } catch {
    throw new Error(
      "--redis-url needs two more packages next to @falgate/node: npm install @falgate/redis ioredis",
    );
  }
  const client = new modules.ioredis.Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  let reported = 0;
  client.on("error", (error) => {
    // One line per 10 s while Redis is away: the limits say what they do about it (fail open or closed).
    if (Date.now() - reported < 10_000) return;
    reported = Date.now();
    logger.warn("Redis connection error", { error: error.message });
  });
  return { store: modules.store.createRedisStore(client), disconnect: () => client.disconnect() };
}
