#!/usr/bin/env node
// The `falgate-mock` command. It lives outside dist/ so that a workspace install can link it before the first
// build; the command itself is dist/cli.js.
import { existsSync } from "node:fs";

const cli = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(
    "falgate-mock: this checkout is not built yet; run `npm run build` at the repository root.\n",
  );
  process.exit(1);
}
await import(cli.href);
