#!/usr/bin/env node
import { runCli } from "./cli-run.js";

// The `falgate` command: the only place in this package that owns the process (signals, exit codes).
async function main(): Promise<void> {
  const run = await runCli(process.argv.slice(2), {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
  if (run.exitCode !== null) {
    process.exitCode = run.exitCode;
    return;
  }
  const { server, logger } = run;
  if (server === null || logger === null) return;

  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.error(`${signal} again, exiting now.`);
      process.exit(1);
    }
    logger.info(`${signal}, finishing in-flight requests...`);
    server.close().then(
      () => logger.info("stopped."),
      (error: unknown) => {
        logger.error("shutdown failed", { error: error instanceof Error ? error.message : String(error) });
        process.exitCode = 1;
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

main().catch((error: unknown) => {
  console.error("falgate:", error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
