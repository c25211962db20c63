import { join } from "node:path";
import {
  ALLOWED_ENDPOINTS,
  type ConformanceOptions,
  REPO_ROOT,
  type StartHandler,
  startChildServer,
} from "@falgate/testkit";
import { expect } from "vitest";

/** The runtime binaries, installed from the npm registry (`bun`, `deno` packages) as dev dependencies here. */
export const BIN = join(REPO_ROOT, "packages/runtimes/node_modules/.bin");

/**
 * Starts an example server (apps/bun-example, apps/deno-example) under its runtime with the suite's options given as
 * the example reads them, on an ephemeral loopback port; it prints `falgate on <Runtime>: <url>` when ready.
 */
export function exampleStarter(runtime: "Bun" | "Deno", command: string, args: string[]): StartHandler {
  const cwd = join(REPO_ROOT, `apps/${runtime.toLowerCase()}-example`);
  return async (options: ConformanceOptions) => {
    // The examples pin their endpoint allowlist; the suite must be asking for the same.
    expect(options.allowedEndpoints).toEqual(ALLOWED_ENDPOINTS);
    const server = await startChildServer(command, args, {
      cwd,
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: "0",
        FAL_KEY: options.credentials,
        FALGATE_UPSTREAM: options.upstream,
        FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
        DENO_NO_UPDATE_CHECK: "1",
        NO_COLOR: "1",
      },
      ready: new RegExp(`falgate on ${runtime}: http://127\\.0\\.0\\.1:(\\d+)/api/fal/proxy`),
    });
    return { url: `${server.origin}/api/fal/proxy`, close: server.close };
  };
}
