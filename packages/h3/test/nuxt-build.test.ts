/**
 * SLOW (about a minute): builds apps/nuxt-example with `nuxt build` once (Nuxt 4, Nitro 2's node-server preset,
 * h3 1.x), then runs the conformance suite and the official client against `node .output/server/index.mjs` on
 * loopback: the route `server/api/fal/proxy/[...path].ts` with `@falgate/h3/node`.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ALLOWED_ENDPOINTS,
  buildPackages,
  describeConformance,
  describeFalClient,
  REPO_ROOT,
  type StartHandler,
  send,
  startChildServer,
} from "@falgate/testkit";
import { beforeAll, expect, test } from "vitest";

const run = promisify(execFile);
const APP = join(REPO_ROOT, "apps/nuxt-example");
const ENV = { ...process.env, NUXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" as const };

beforeAll(async () => {
  // The example consumes the packages the way users do, from their built `dist/`.
  await buildPackages(["core", "node", "h3"]);
  await run(join(APP, "node_modules/.bin/nuxt"), ["build"], {
    cwd: APP,
    env: ENV,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 360_000);

/** Starts the built server on an ephemeral port with the suite's options given as the example app reads them. */
const start: StartHandler = async (options) => {
  // The example pins its endpoint allowlist in server/utils/falgate.ts; the suite must be asking for the same.
  expect(options.allowedEndpoints).toEqual(ALLOWED_ENDPOINTS);
  const server = await startChildServer(process.execPath, [".output/server/index.mjs"], {
    cwd: APP,
    env: {
      ...ENV,
      HOST: "127.0.0.1",
      PORT: "0",
      FAL_KEY: options.credentials,
      FALGATE_UPSTREAM: options.upstream,
      FALGATE_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
    },
    ready: /Listening on http:\/\/127\.0\.0\.1:(\d+)/,
  });
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "Nuxt 4 production build (node .output/server/index.mjs)", start });
describeFalClient({ name: "Nuxt 4 production build (node .output/server/index.mjs)", start });

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
