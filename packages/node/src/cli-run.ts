import { createLineLogger, DEFAULTS, type FalgateEnv, type LineLogger, type LogLevel } from "@falgate/core";
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
  const { options, log } = command;
  const logger = createLineLogger({
    format: log.format,
    write: (line: string, level: LogLevel) =>
      (level === "warn" || level === "error" ? io.stderr : io.stdout)(line),
  });
  const env = io.env;
  if (!env.FAL_KEY && !(env.FAL_KEY_ID && env.FAL_KEY_SECRET)) {
    logger.warn("FAL_KEY is not set; every proxied call will answer 500 missing_credentials.");
  }
  const server = await startServer({
    ...options,
    // The live object (process.env in the terminal): values set after start-up count, as everywhere else.
    env: env as FalgateEnv,
    logger,
    accessLog: !log.quiet,
    tracing: true,
  });
  logger.info(`proxy listening on ${server.url}${options.path ?? DEFAULTS.path}`);
  if (server.metricsUrl) logger.info(`metrics at ${server.metricsUrl}`);
  if (options.upstream) logger.info(`fal traffic goes to ${options.upstream}`);
  return { exitCode: null, server, logger };
}
