import { parseArgs } from "node:util";
import { startMockFal } from "./server.js";
import { DEFAULT_KEY } from "./state.js";
import type { MockFal } from "./types.js";

/** Usage text of `falgate-mock`. */
export const USAGE = `Usage: falgate-mock [--port 4010] [--host 127.0.0.1] [--key <id:secret>] [--queue-ms 50] [--run-ms 150]
                    [--webhook-rewrite <https://public.origin>=<http://local.origin>]... [--no-webhooks]

A fal-compatible local upstream. Point falgate at it with \`upstream: <printed url>\`.
Queue submits with ?fal_webhook= are delivered when they complete, signed; verify them with the printed JWKS URL.
Control routes: GET /_mock/requests, POST /_mock/faults, DELETE /_mock/faults, POST /_mock/reset.
Environment: FAL_MOCK_PORT, FAL_MOCK_HOST, FAL_MOCK_KEY (flags win).`;

/** What the CLI needs from its process (injected so tests can drive it without real signals). */
export interface CliIo {
  stdout: (text: string) => void;
  /** Registers a one-shot handler for a signal. */
  onSignal: (signal: "SIGINT" | "SIGTERM", handler: () => void) => void;
  exit: (code: number) => void;
}

function num(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n))
    throw new TypeError(`--${name} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

/** Starts the mock from CLI arguments and stops it gracefully on SIGINT/SIGTERM; `undefined` after `--help`. */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  io: CliIo,
): Promise<MockFal | undefined> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      key: { type: "string" },
      "queue-ms": { type: "string" },
      "run-ms": { type: "string" },
      "webhook-rewrite": { type: "string", multiple: true },
      "no-webhooks": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.stdout(`${USAGE}\n`);
    return undefined;
  }
  const key = values.key ?? env.FAL_MOCK_KEY;
  const rewrite: Record<string, string> = {};
  for (const pair of values["webhook-rewrite"] ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0)
      throw new TypeError(`--webhook-rewrite must be <from origin>=<to origin>, got ${JSON.stringify(pair)}`);
    rewrite[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const mock = await startMockFal({
    port: num(values.port ?? env.FAL_MOCK_PORT, "port") ?? 4010,
    host: values.host ?? env.FAL_MOCK_HOST ?? "127.0.0.1",
    ...(key ? { key } : {}),
    queueMs: num(values["queue-ms"], "queue-ms"),
    runMs: num(values["run-ms"], "run-ms"),
    webhooks: { enabled: values["no-webhooks"] !== true, rewrite },
  });
  // The default key is a public placeholder, so it is printed; a custom key is not.
  const keyNote =
    mock.key === DEFAULT_KEY ? `Authorization: Key ${DEFAULT_KEY}` : "Authorization: Key <your --key>";
  io.stdout(
    `falgate-mock listening on ${mock.url}\nexpects ${keyNote}\nwebhook keys (jwksUrl): ${mock.jwksUrl}\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    io.stdout(`falgate-mock: ${signal}, shutting down\n`);
    mock.close().then(
      () => io.exit(0),
      () => io.exit(1),
    );
  };
  io.onSignal("SIGINT", () => stop("SIGINT"));
  io.onSignal("SIGTERM", () => stop("SIGTERM"));
  return mock;
}
