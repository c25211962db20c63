/**
 * SLOW (about half a minute): builds apps/react-router-example with `react-router build` once, then runs the
 * conformance suite and the official client against `react-router-serve` (React Router's production server: Express
 * with compression) on loopback.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ALLOWED_ENDPOINTS,
  buildPackages,
  describeConformance,
  describeFalClient,
  freePort,
  REPO_ROOT,
  type StartHandler,
  send,
  startChildServer,
} from "@falgate/testkit";
import { beforeAll, expect, test } from "vitest";

const run = promisify(execFile);
const APP = join(REPO_ROOT, "apps/react-router-example");
const BIN = join(APP, "node_modules/.bin");
const ENV = { ...process.env, NODE_ENV: "production" as const };

beforeAll(async () => {
  // The example consumes the packages the way users do, from their built `dist/`.
  await buildPackages(["core", "react-router"]);
  await run(join(BIN, "react-router"), ["build"], {
    cwd: APP,
    env: ENV,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 360_000);

/** Starts `react-router-serve` on a free port with the suite's options given as the example app reads them. */
const start: StartHandler = async (options) => {
  // The example pins its endpoint allowlist in app/falgate.server.ts; the suite must be asking for the same.
  expect(options.allowedEndpoints).toEqual(ALLOWED_ENDPOINTS);
  const server = await startChildServer(join(BIN, "react-router-serve"), ["./build/server/index.js"], {
    cwd: APP,
    env: {
      ...ENV,
      HOST: "127.0.0.1",
      PORT: String(await freePort()),
      FAL_KEY: options.credentials,
      FALGATE_UPSTREAM: options.upstream,
      FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
    },
    ready: /\[react-router-serve\] http:\/\/localhost:(\d+)/,
  });
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "react-router-serve (React Router 7 production build)", start });
describeFalClient({ name: "react-router-serve (React Router 7 production build)", start });

test("the app's page renders next to the proxy route", async () => {
  const server = await start({
    credentials: "unused",
    upstream: "http://127.0.0.1:9",
    allowedEndpoints: ALLOWED_ENDPOINTS,
    allowedOrigins: [],
  });
  try {
    const page = await send(server.url.replace("/api/fal/proxy", "/"));
    expect(page.status).toBe(200);
    expect(page.text()).toContain("/api/fal/proxy");
  } finally {
    await server.close();
  }
});
