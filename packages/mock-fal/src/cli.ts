#!/usr/bin/env node
import { runCli, USAGE } from "./run-cli.js";

runCli(process.argv.slice(2), process.env, {
  stdout: (text) => process.stdout.write(text),
  onSignal: (signal, handler) => process.once(signal, handler),
  exit: (code) => process.exit(code),
}).catch((error: unknown) => {
  process.stderr.write(`falgate-mock: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exit(2);
});
