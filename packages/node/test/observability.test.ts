import { createAccessLog, createLineLogger, type LineLogger } from "@falgate/core";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RunningServer, startServer } from "../src/index.js";
import { send } from "./helpers.js";

// Secrets a run must never reveal: the fal key (and each half), the falgate token secret, the browser's credentials.
const KEY_ID = "keyid-3f9a1c77e2";
const KEY_SECRET = "keysecret-b81d44c0a9e6f2";
const KEY = `${KEY_ID}:${KEY_SECRET}`;
const TOKEN_SECRET = "token-secret-5e0c9d1f7a2b4c8e6d3f0a1b";
const BEARER = "session-bearer-7c2e9f4a1b";
const COOKIE = "cookie-value-0d8b3e6f5a";

let mock: MockFal;
let exporter: InMemorySpanExporter;

beforeAll(async () => {
  mock = await startMockFal({ key: KEY, runMs: 100 });
  exporter = new InMemorySpanExporter();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
});
afterAll(async () => {
  trace.disable();
  context.disable();
  await mock.close();
});
afterEach(() => {
  exporter.reset();
  mock.clearFaults();
});

/** The standalone server with metrics, an access log in both formats, and tracing, capturing every line. */
async function observed(): Promise<{ server: RunningServer; lines: string[]; proxy: string; ws: string }> {
  const lines: string[] = [];
  const json: LineLogger = createLineLogger({
    format: "json",
    level: "debug",
    write: (line) => lines.push(line),
  });
  const pretty = createLineLogger({ format: "pretty", level: "debug", write: (line) => lines.push(line) });
  const server = await startServer({
    port: 0,
    upstream: mock.url,
    env: { FAL_KEY: KEY, FALGATE_TOKEN_SECRET: TOKEN_SECRET },
    logger: json,
    accessLog: true,
    tracing: true,
    metrics: true,
    // fal tokens need the app named: `fal-ai/*` alone cannot pin an alias to its owner.
    allowedEndpoints: ["fal-ai/*", "fal-ai/echo"],
    authorize: (request) =>
      request.headers.get("authorization") === `Bearer ${BEARER}` ? { id: "user-1" } : null,
  });
  const stop = server.falgate.observe(createAccessLog(pretty));
  const close = server.close;
  server.close = async () => {
    await close();
    stop();
  };
  return {
    server,
    lines,
    proxy: `${server.url}/api/fal/proxy`,
    ws: `${server.url.replace("http", "ws")}/api/fal/proxy`,
  };
}

const browser = {
  authorization: `Bearer ${BEARER}`,
  cookie: `sid=${COOKIE}`,
  "content-type": "application/json",
};

async function tunnelSession(url: string, frames: Array<string | Buffer>): Promise<void> {
  const ws = new WebSocket(url, { headers: { cookie: `sid=${COOKIE}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const echoed = new Promise<void>((resolve) => {
    let n = 0;
    ws.on("message", () => {
      if (++n === frames.length) resolve();
    });
  });
  for (const frame of frames) ws.send(frame, { binary: typeof frame !== "string" });
  await echoed;
  await new Promise<void>((resolve) => {
    ws.once("close", () => resolve());
    ws.close(1000);
  });
}

async function finished(count: number, name?: string): Promise<ReadableSpan[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const spans = exporter.getFinishedSpans().filter((span) => name === undefined || span.name === name);
    if (spans.length >= count) return spans;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`fewer than ${count} ${name ?? ""} spans`);
}

describe("observability of the standalone server", () => {
  test("a tunnel session is one span from open to end, with its counters", async () => {
    const { server, proxy, ws } = await observed();
    try {
      const minted = await send(`${proxy}/token`, {
        method: "POST",
        headers: browser,
        body: '{"app":"fal-ai/echo"}',
      });
      const token = JSON.parse(minted.text) as string;
      await tunnelSession(`${ws}/fal-ai/echo/realtime?fal_jwt_token=${token}`, ["hello", Buffer.alloc(64)]);
      const [span] = await finished(1, "falgate tunnel");
      expect(span!.kind).toBe(SpanKind.CLIENT);
      expect(span!.attributes).toMatchObject({
        "falgate.route": "tunnel",
        "falgate.principal": "user-1",
        "falgate.app": "fal-ai/echo",
        "falgate.endpoint": "fal-ai/echo/realtime",
        "falgate.tunnel.reason": "client-closed",
        "falgate.tunnel.close_code": 1000,
        "falgate.tunnel.messages_in": 2,
        "falgate.tunnel.messages_out": 2,
        "falgate.tunnel.bytes_in": 69,
        "falgate.tunnel.bytes_out": 69,
      });
      expect(span!.status.code).toBe(SpanStatusCode.UNSET);
      const [tokenSpan] = await finished(1, "falgate token");
      expect(tokenSpan!.attributes["falgate.token.kind"]).toBe("falgate");
    } finally {
      await server.close();
    }
  });

  test("no log line, metric or span attribute holds the key, a token, a cookie or an Authorization value", async () => {
    const { server, lines, proxy, ws } = await observed();
    const tokens: string[] = [];
    let requestId = "";
    try {
      // HTTP proxy: a run, a stream, a queue submit, refusals, an upstream failure mid-answer.
      const run = await send(proxy, {
        method: "POST",
        headers: { ...browser, "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl?secret_query=1" },
        body: JSON.stringify({ prompt: "a lighthouse" }),
      });
      expect(run.status).toBe(200);
      requestId = String(run.headers["x-fal-request-id"]);
      const stream = await send(proxy, {
        method: "POST",
        headers: { ...browser, "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl/stream" },
        body: JSON.stringify({ prompt: "a lighthouse" }),
      });
      expect(stream.status).toBe(200);
      const queued = await send(proxy, {
        method: "POST",
        headers: { ...browser, "x-fal-target-url": "https://queue.fal.run/fal-ai/fast-sdxl" },
        body: JSON.stringify({ prompt: "a lighthouse" }),
      });
      expect(queued.status).toBe(200);
      expect(
        (
          await send(proxy, {
            method: "POST",
            headers: { ...browser, "x-fal-target-url": "https://fal.run/x/y" },
          })
        ).status,
      ).toBe(403);
      expect(
        (
          await send(proxy, {
            method: "POST",
            headers: {
              cookie: `sid=${COOKIE}`,
              authorization: "Bearer wrong",
              "x-fal-target-url": "https://fal.run/fal-ai/a",
            },
          })
        ).status,
      ).toBe(401);
      mock.fault({ kind: "reset-during-body", afterBytes: 5, host: "fal.run", path: /echo/, times: 1 });
      await send(proxy, {
        method: "POST",
        headers: { ...browser, "x-fal-target-url": "https://fal.run/fal-ai/echo" },
        body: "x".repeat(64),
      }).catch(() => undefined);

      // The token route, both kinds, and a fal token through the proxy.
      const falgateToken = await send(`${proxy}/token`, {
        method: "POST",
        headers: browser,
        body: '{"app":"fal-ai/echo"}',
      });
      const falToken = await send(`${proxy}/token`, {
        method: "POST",
        headers: browser,
        body: '{"app":"fal-ai/echo","type":"fal"}',
      });
      const proxiedFalToken = await send(proxy, {
        method: "POST",
        headers: { ...browser, "x-fal-target-url": "https://rest.fal.ai/tokens/" },
        body: JSON.stringify({ allowed_apps: ["echo"], token_expiration: 60 }),
      });
      for (const answer of [falgateToken, falToken, proxiedFalToken]) {
        expect(answer.status).toBe(200);
        tokens.push(JSON.parse(answer.text) as string);
      }

      // The tunnel with the falgate token, then a replay of it (refused in-band).
      await tunnelSession(`${ws}/fal-ai/echo/realtime?fal_jwt_token=${tokens[0]}`, [
        "hi",
        Buffer.from("bin"),
      ]);
      const replay = new WebSocket(`${ws}/fal-ai/echo/realtime?fal_jwt_token=${tokens[0]}`);
      await new Promise<void>((resolve) => replay.once("close", () => resolve()));
      await finished(1, "falgate tunnel");
      await finished(10);
    } finally {
      await server.close();
    }
    const metrics = await server.metrics!.text();
    const spans = exporter.getFinishedSpans().map((span) =>
      JSON.stringify({
        name: span.name,
        attributes: span.attributes,
        status: span.status,
        events: span.events,
        resource: span.resource.attributes,
      }),
    );

    // Everything the run produced, non-empty and about these calls (so the search below means something).
    const logText = lines.join("");
    expect(lines.filter((line) => line.includes('"msg":"call"')).length).toBeGreaterThanOrEqual(9);
    expect(logText).toContain("upstream body ended with an error");
    expect(logText).toContain(requestId);
    expect(logText).toContain("tunnel client-closed");
    expect(metrics).toContain("falgate_tunnel_frames_total");
    expect(spans.join("\n")).toContain(requestId);
    const everything = [logText, metrics, ...spans].join("\n");

    const secrets = [KEY, KEY_ID, KEY_SECRET, TOKEN_SECRET, BEARER, COOKIE, ...tokens];
    // Each token whole and in parts (a JWT's signature alone is still its proof), and the secrets' encodings.
    for (const token of tokens) secrets.push(...token.split(".").filter((part) => part.length >= 16));
    for (const secret of [KEY, TOKEN_SECRET]) {
      secrets.push(Buffer.from(secret).toString("base64"), Buffer.from(secret).toString("base64url"));
    }
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens).size).toBe(3);
    const leaks = secrets.filter((secret) => everything.includes(secret));
    expect(leaks).toEqual([]);
    // Nor any Authorization or Cookie value by shape, nor the query string falgate dropped from the target.
    expect(everything).not.toMatch(/Key [^"\s]+:[^"\s]+/);
    expect(everything).not.toMatch(/Bearer /);
    expect(everything).not.toContain("sid=");
    expect(everything).not.toContain("fal_jwt_token");
    expect(everything).not.toContain("secret_query");
    // The search itself finds what it looks for.
    expect(secrets.filter((secret) => `${everything} ${KEY}`.includes(secret))).toContain(KEY);
  });
});
