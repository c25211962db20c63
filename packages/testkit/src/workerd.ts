import { build } from "esbuild";
import { Miniflare } from "miniflare";

/** The compatibility settings of apps/worker/wrangler.toml; tests run Workers the way it deploys them. */
export const WORKER_COMPATIBILITY = { date: "2026-04-01", flags: ["enable_request_signal"] } as const;

/** Why the header-phase abort check is skipped on workerd (see docs/adapters/cloudflare-worker.md). */
export const WORKERD_ABORT_SKIP =
  "workerd run locally notices a client disconnect only when it next writes to that client, and nothing is " +
  "written while waiting for upstream headers (on Cloudflare the edge cancels the invocation and its " +
  "subrequests); the long-stream check covers disconnects once the answer streams";

/** Why the chunked-truncation check is skipped on workerd (see docs/adapters/cloudflare-worker.md). */
export const WORKERD_TRUNCATION_SKIP =
  "workerd ends a chunked answer with its last chunk even when the Worker's body stream errors (erroring the " +
  "stream, a TransformStream writer.abort, a throwing pull and ctx.abort were all tried; cloudflare/workerd#6818), " +
  "so a Worker cannot make a cut SSE stream fail at the client; falgate logs and counts it instead (worker.test.ts)";

/**
 * Bundles a Worker entry from TypeScript sources as workerd loads it: ESM, no Node built-ins, workspace packages
 * resolved to their `src/` (the `falgate-source` condition), so no build is needed. `platform: "browser"` is what
 * wrangler uses: dependencies' `browser` field remaps apply (the OpenTelemetry SDK needs them).
 */
export async function bundleWorker(
  entry: string,
  options: { platform?: "neutral" | "browser" } = {},
): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: options.platform ?? "neutral",
    target: "es2022",
    conditions: ["falgate-source", "workerd", "worker", "browser", "import"],
    mainFields: ["module", "main"],
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

/** A Worker running in real workerd, reachable over a loopback socket. */
export interface RunningWorker {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  miniflare: Miniflare;
  close(): Promise<void>;
}

/**
 * Runs a bundled module Worker in workerd (miniflare) with the given bindings (vars and secrets alike).
 * `onOutput` receives the Worker's console output (stdout and stderr) as it comes.
 */
export async function startWorker(
  script: string,
  bindings: Record<string, string>,
  options: { onOutput?: (text: string) => void } = {},
): Promise<RunningWorker> {
  const { onOutput } = options;
  const miniflare = new Miniflare({
    modules: true,
    script,
    compatibilityDate: WORKER_COMPATIBILITY.date,
    compatibilityFlags: [...WORKER_COMPATIBILITY.flags],
    // No request.cf lookup (it would go to the internet).
    cf: false,
    handleRuntimeStdio: onOutput
      ? (stdout, stderr) => {
          for (const stream of [stdout, stderr])
            stream.on("data", (chunk: Buffer) => onOutput(String(chunk)));
        }
      : quiet,
    bindings,
  });
  const origin = (await miniflare.ready).origin;
  return { origin, miniflare, close: () => miniflare.dispose() };
}

/** Drops the Worker's console output (falgate's start-up warnings) unless FALGATE_TEST_DEBUG is set. */
function quiet(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream): void {
  if (process.env.FALGATE_TEST_DEBUG) {
    stdout.pipe(process.stdout);
    stderr.pipe(process.stderr);
  } else {
    stdout.resume();
    stderr.resume();
  }
}
