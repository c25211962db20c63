import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import {
  buildPackages,
  describeConformance,
  describeFalClient,
  REPO_ROOT,
  type StartHandler,
} from "@falgate/testkit";
import { beforeAll } from "vitest";
import { startServer } from "../src/index.js";

/*
 * The standalone server under the suites every adapter runs: once in-process (`startServer`), once as users run it,
 * the built `falgate` CLI in its own process configured by environment variables only.
 */

const silent = { warn: () => {}, error: () => {} };

const inProcess: StartHandler = async (options) => {
  const server = await startServer({ ...options, port: 0, logger: silent });
  return { url: `${server.url}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "standalone server (startServer)", start: inProcess });
describeFalClient({ name: "standalone server (startServer)", start: inProcess });

const CLI = join(REPO_ROOT, "packages/node/dist/cli.js");

beforeAll(async () => {
  await buildPackages(["core", "node"]);
}, 180_000);

/** The built CLI with the suite's options as its environment; resolves with the URL it prints. */
const cli: StartHandler = async (options) => {
  const child = spawn(process.execPath, [CLI], {
    env: {
      PATH: process.env.PATH,
      FAL_KEY: options.credentials,
      FALGATE_PORT: "0",
      FALGATE_UPSTREAM: options.upstream,
      FALGATE_ALLOWED_ENDPOINTS: options.allowedEndpoints.join(","),
      FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = await listening(child);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
};

/** Waits for the CLI's "listening on <url>" line. */
function listening(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve(match[1]!);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.resume();
    child.once("exit", (code) => reject(new Error(`falgate exited with ${code} before listening:\n${out}`)));
  });
}

describeConformance({ name: "standalone server (the built falgate CLI)", start: cli });
describeFalClient({ name: "standalone server (the built falgate CLI)", start: cli });
