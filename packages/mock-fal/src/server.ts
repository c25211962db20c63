import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { armBodyFault, type Fault, parseFault } from "./faults.js";
import { FAL_HOSTS, UPSTREAM_HOST_HEADER } from "./hosts.js";
import { type Ctx, sendDetail, sendJson, sleep } from "./http.js";
import { createRealtime } from "./realtime.js";
import { handleCdn } from "./routes/cdn.js";
import { handleControl } from "./routes/control.js";
import { handleQueue } from "./routes/queue.js";
import { handleRest, JWKS_PATH } from "./routes/rest.js";
import { handleRun } from "./routes/run.js";
import { createState, type MockState } from "./state.js";
import type { FalHost, FaultSpec, MockFal, MockFalOptions } from "./types.js";

/**
 * Which host a request targets: the routing header, else the mock's own CDN, else `fal.run`; the webhook key set
 * is `rest.fal.ai`'s, so that `mock.jwksUrl` works without the header.
 */
function targetHost(req: IncomingMessage, pathname: string): FalHost | "mock" | string {
  const header = req.headers[UPSTREAM_HOST_HEADER];
  const value = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase().replace(/:443$/, "");
  if (value) return value;
  if (pathname === JWKS_PATH) return "rest.fal.ai";
  return pathname.startsWith("/_cdn/") ? "mock" : "fal.run";
}

/** Abort reason of exchanges that ended (cheaper than the default DOMException). */
const CLOSED = new Error("exchange closed");

/**
 * Starts a fal-compatible mock on loopback.
 * @example
 * const mock = await startMockFal();
 * const falgate = createFalgate({ credentials: mock.key, upstream: mock.url });
 * // ... test ...
 * await mock.close();
 */
export async function startMockFal(options: MockFalOptions = {}): Promise<MockFal> {
  const lifetime = new AbortController();
  const state = createState(options, lifetime.signal);
  const sockets = new Set<Socket>();
  const realtime = createRealtime(state);
  const reset = () => {
    state.webhooks.clear();
    state.recorder.clear();
    state.faults.clear();
    state.queue.clear();
    state.files.clear();
    state.sources.clear();
  };

  const server = createServer((req, res) => {
    handle(state, req, res, reset).catch((error: unknown) => {
      state.logger?.error("mock-fal handler failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      res.destroy();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  server.on("upgrade", (req: IncomingMessage, socket, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://mock");
    const host = targetHost(req, url.pathname);
    if (!FAL_HOSTS.includes(host)) return void socket.destroy();
    realtime.upgrade(req, socket, head, host as FalHost, url).catch(() => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(state.options.port, state.options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  state.url = `http://${hostForUrl}:${address.port}`;
  state.publicUrl = state.options.publicUrl ?? state.url;
  state.logger?.info?.("mock-fal listening", { url: state.url });

  let closing: Promise<void> | undefined;
  return {
    url: state.url,
    publicUrl: state.publicUrl,
    wsUrl: state.url.replace(/^http/, "ws"),
    key: state.options.key,
    requests: state.recorder.requests,
    waitForRequest: (predicate, timeoutMs) => state.recorder.waitFor(predicate, timeoutMs),
    fault: (spec: FaultSpec) => state.faults.add(parseFault(spec)),
    clearFaults: () => state.faults.clear(),
    reset,
    getFile: (urlOrId) => state.files.lookup(urlOrId),
    verifyToken: (token) => state.tokens.verify(token),
    jwksUrl: `${state.url}${JWKS_PATH}`,
    signWebhook: (body, init) => state.webhooks.sign(body, init),
    rotateWebhookKey: (options) => state.webhooks.rotate(options?.keepPrevious ?? true),
    close() {
      closing ??= new Promise<void>((resolve) => {
        lifetime.abort();
        state.webhooks.clear();
        state.recorder.close();
        realtime.close();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

async function handle(
  state: MockState,
  req: IncomingMessage,
  res: ServerResponse,
  reset: () => void,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://mock");
  const host = targetHost(req, url.pathname);
  if (host === "fal.run" && !req.headers[UPSTREAM_HOST_HEADER] && url.pathname.startsWith("/_mock/")) {
    return handleControl(state, req, res, url.pathname, reset);
  }
  const method = (req.method ?? "GET").toUpperCase();
  const record = state.recorder.create({
    method,
    host,
    path: url.pathname,
    search: url.search,
    headers: req.headers,
    websocket: false,
  });
  const body = req.pipe(state.recorder.tap(record));
  body.on("error", () => undefined); // an aborted upload is recorded (`aborted`), never thrown
  // The per-exchange signal is created on first use: most answers never wait, and aborting costs a DOMException.
  let abort: AbortController | undefined;
  let closed = false;
  const onLifetimeAbort = () => abort?.abort(CLOSED);
  const signal = (): AbortSignal => {
    if (!abort) {
      abort = new AbortController();
      if (closed || state.lifetime.aborted) abort.abort(CLOSED);
      else state.lifetime.addEventListener("abort", onLifetimeAbort, { once: true });
    }
    return abort.signal;
  };
  req.once("error", (error) => body.destroy(error));
  req.once("close", () => {
    if (!req.complete) body.destroy(new Error("request aborted"));
  });
  res.once("finish", () => {
    record.finishedAt = Date.now();
    state.recorder.changed(record);
  });
  res.once("close", () => {
    closed = true;
    if (!res.writableFinished) {
      record.aborted = true;
      state.recorder.changed(record);
    }
    if (abort) {
      state.lifetime.removeEventListener("abort", onLifetimeAbort);
      abort.abort(CLOSED);
    }
  });
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  res.writeHead = ((...args: unknown[]) => {
    record.status = args[0] as number;
    return writeHead(...args);
  }) as ServerResponse["writeHead"];

  const requestId = host === "mock" ? "" : randomUUID();
  const ctx: Ctx = {
    req,
    res,
    method,
    url,
    host,
    record,
    requestId,
    body,
    get signal() {
      return signal();
    },
    mock: state,
  };
  try {
    const fault = state.faults.take(method, host, url.pathname);
    if (fault && !(await applyFault(ctx, fault))) return;
    await route(ctx, host);
  } catch (error) {
    if (closed || state.lifetime.aborted || (error instanceof Error && error.name === "AbortError")) return;
    state.logger?.error("mock-fal route failed", {
      path: url.pathname,
      error: error instanceof Error ? error.message : String(error),
    });
    if (!res.headersSent) sendDetail(ctx, 500, "Mock internal error");
    else res.destroy();
  } finally {
    record.requestId = ctx.requestId;
    if (!body.destroyed) body.resume(); // drain whatever the route did not read, so the record completes
  }
}

/** Applies a fault before routing; returns true when the normal route should still run. */
async function applyFault(ctx: Ctx, fault: Fault): Promise<boolean> {
  ctx.record.fault = fault.kind;
  await sleep(fault.delayMs, ctx.signal);
  switch (fault.kind) {
    case "delay":
      return true;
    case "status": {
      ctx.body.resume();
      if (typeof fault.body === "string") {
        ctx.res.writeHead(fault.status, {
          "content-type": "text/plain; charset=utf-8",
          "x-fal-request-id": ctx.requestId,
          ...fault.headers,
        });
        ctx.res.end(fault.body);
      } else {
        sendJson(
          ctx,
          fault.status,
          fault.body ?? { detail: `Mock fault: HTTP ${fault.status}` },
          fault.headers,
        );
      }
      return false;
    }
    case "reset": {
      // Read the whole request first: the interesting case is a request that surely reached the upstream.
      ctx.body.resume();
      await new Promise<void>((resolve) => {
        if (ctx.record.complete) return resolve();
        ctx.body.once("end", resolve);
        ctx.body.once("close", resolve);
      });
      const socket = ctx.req.socket as Socket & { resetAndDestroy?: () => Socket };
      if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
      else socket.destroy();
      return false;
    }
    default:
      armBodyFault(ctx.res, fault.kind, fault.afterBytes);
      return true;
  }
}

function route(ctx: Ctx, host: string): Promise<void> | void {
  switch (host) {
    case "mock":
      return handleCdn(ctx);
    case "fal.run":
      return handleRun(ctx);
    case "queue.fal.run":
      return handleQueue(ctx);
    case "rest.fal.ai":
    case "rest.alpha.fal.ai":
      return handleRest(ctx);
    default:
      return sendDetail(ctx, 404, `mock-fal does not serve host ${JSON.stringify(host)}`);
  }
}
