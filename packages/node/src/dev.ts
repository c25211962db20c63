import { startMockFal } from "@falgate/mock-fal";
import { startServer } from "./server.js";

// `pnpm demo`: the standalone proxy in front of the local fal mock, no key and no credits needed.
// Development only: unauthenticated, and the mock stands in for fal.
async function main(): Promise<void> {
  const mock = await startMockFal({ port: 0 });
  const port = Number(process.env.PORT ?? 3000);
  const path = "/api/fal/proxy";
  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    running = await startServer({
      port,
      path,
      upstream: mock.url,
      credentials: mock.key,
      allowUnauthenticated: true,
    });
  } catch (error) {
    await mock.close();
    throw error;
  }
  const proxy = `${running.url}${path}`;
  console.log(`
falgate dev server: ${proxy}  ->  mock fal at ${mock.url}

Try a proxied call (the mock answers like fal.run, with a generated image):

  curl -s ${proxy} \\
    -H 'x-fal-target-url: https://fal.run/fal-ai/fast-sdxl' \\
    -H 'content-type: application/json' \\
    -d '{"prompt":"a lighthouse at dusk"}'

Press Ctrl+C to stop.`);

  const stop = () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    void Promise.allSettled([running.close(), mock.close()]).then(() => console.log("stopped."));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error("falgate dev:", error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
