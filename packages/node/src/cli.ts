#!/usr/bin/env node
import { DEFAULTS } from "@falgate/core";
import { CLI_HELP, CliError, parseCliArgs } from "./cli-args.js";
import { startServer } from "./server.js";

// The `falgate` command: the only place in this package that talks to the terminal and exits the process.
async function main(): Promise<void> {
  let command: ReturnType<typeof parseCliArgs>;
  try {
    command = parseCliArgs(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    console.error(`falgate: ${error.message}\nRun \`falgate --help\` for the options.`);
    process.exitCode = 2;
    return;
  }
  if (command.kind === "help") {
    console.log(CLI_HELP);
    return;
  }
  const { options } = command;
  const env = process.env;
  if (!env.FAL_KEY && !(env.FAL_KEY_ID && env.FAL_KEY_SECRET)) {
    console.warn("falgate: FAL_KEY is not set; every proxied call will answer 500 missing_credentials.");
  }

  const running = await startServer(options);
  console.log(`falgate: proxy listening on ${running.url}${options.path ?? DEFAULTS.path}`);
  if (options.upstream) console.log(`falgate: fal traffic goes to ${options.upstream}`);

  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      console.error(`falgate: ${signal} again, exiting now.`);
      process.exit(1);
    }
    console.log(`falgate: ${signal}, finishing in-flight requests...`);
    running.close().then(
      () => console.log("falgate: stopped."),
      (error: unknown) => {
        console.error("falgate: shutdown failed:", error instanceof Error ? error.message : error);
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
