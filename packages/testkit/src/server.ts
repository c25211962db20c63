import type { RequestListener, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@falgate/core";
import { getRequestListener } from "@hono/node-server";

/** Listens on an ephemeral loopback port; resolves with the origin and a `close()` that also drops open sockets. */
export async function listen(server: Server): Promise<{ origin: string; close(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A logger that keeps lines for assertions instead of printing them. */
export function silentLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  return { lines, warn: push, error: push, info: push, debug: push };
}

/**
 * A Node request listener serving a Fetch handler (`Request` in, `Response` out) through `@hono/node-server`'s
 * bridge: client aborts reach `request.signal`, bodies stream both ways. For Web handlers that have no server of
 * their own in a test (App Router route handlers called the way Next calls them).
 */
export function fetchListener(handler: (request: Request) => Promise<Response>): RequestListener {
  return getRequestListener(handler, { overrideGlobalObjects: false });
}
