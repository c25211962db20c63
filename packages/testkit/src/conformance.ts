import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { CUT_DECLARED, CUT_SENT, type CuttingUpstream, startCuttingUpstream } from "./cut-upstream.js";
import { type Answer, open, readUntil, type SendOptions, send, sendRaw } from "./http.js";

/** The options every adapter is started with: JSON only, so they can reach a Worker as a binding. */
export interface ConformanceOptions {
  credentials: string;
  upstream: string;
  allowedEndpoints: string[];
  allowedOrigins: string[];
}

/** A handler under test, listening on its real framework. */
export interface HandlerUnderTest {
  /** Absolute URL of the proxy route (e.g. `http://127.0.0.1:1234/api/fal/proxy`). */
  url: string;
  close(): Promise<void>;
}

/** Starts the adapter under test with the given options on its real framework. */
export type StartHandler = (options: ConformanceOptions) => Promise<HandlerUnderTest>;

/** Checks of the suite that an adapter may skip, each with a stated reason. */
export type ConformanceCheck =
  | "abort"
  | "early-413"
  | "early-answer-body"
  | "truncated"
  | "truncated-chunked"
  | "relayed-length";

/** How to run the suite against one adapter. */
export interface ConformanceConfig {
  /** Shown in the test names. */
  name: string;
  start: StartHandler;
  /** Checks that cannot work on this platform, with the reason (shown as a skipped test). */
  skip?: Partial<Record<ConformanceCheck, string>>;
  /**
   * The code for a refused connection. `upstream_unreachable` (a retry is safe) needs a transport that reports
   * connect errors; workerd's `fetch` does not, so the core can only say `upstream_error`.
   * @default "upstream_unreachable"
   */
  unreachableCode?: "upstream_unreachable" | "upstream_error";
}

/** An allowed cross-origin caller in {@link conformanceOptions}. */
export const ALLOWED_ORIGIN = "https://app.example.com";
/**
 * The endpoint patterns in {@link conformanceOptions}: fal-ai's apps, and `fast-sdxl` named so that fal tokens (scoped
 * by alias, for every owner) may be minted for it.
 */
export const ALLOWED_ENDPOINTS = ["fal-ai/*", "fal-ai/fast-sdxl"];

/** The options the suite starts every adapter with, for a given mock. */
export function conformanceOptions(mock: Pick<MockFal, "key" | "url">): ConformanceOptions {
  return {
    credentials: mock.key,
    upstream: mock.url,
    allowedEndpoints: [...ALLOWED_ENDPOINTS],
    allowedOrigins: [ALLOWED_ORIGIN],
  };
}

/** What a same-origin browser page sends (the default policy admits exactly this without an `authorize` hook). */
export const SAME_ORIGIN = { "sec-fetch-site": "same-origin" } as const;

const RUN = "https://fal.run/fal-ai/fast-sdxl";
const ECHO = "https://fal.run/fal-ai/echo";

interface ErrorBody {
  error: { code: string; message: string };
  message: string;
}

/**
 * The conformance suite: one `describe` block that starts mock-fal and the adapter, then checks policy,
 * methods, streaming, errors, aborts, header hygiene, binary bodies and key secrecy over real sockets.
 */
export function describeConformance(config: ConformanceConfig): void {
  describe(`conformance: ${config.name}`, () => {
    let mock: MockFal;
    let gate: HandlerUnderTest;
    const answers: Answer[] = [];

    beforeAll(async () => {
      mock = await startMockFal({ runMs: 300, queueMs: 50 });
      gate = await config.start(conformanceOptions(mock));
    });
    afterAll(async () => {
      await gate?.close();
      await mock?.close();
    });
    afterEach(() => {
      // The key never leaves the proxy: not in a header, not in a body, whatever the outcome.
      for (const a of answers.splice(0)) {
        expect(a.rawHeaders.join("\n")).not.toContain(mock.key);
        expect(a.body.includes(mock.key)).toBe(false);
      }
      mock.reset();
    });

    /** Calls the proxy with `target` as `x-fal-target-url` (as a same-origin page unless told otherwise). */
    async function call(
      target: string | null,
      options: SendOptions & { browser?: boolean } = {},
    ): Promise<Answer> {
      const headers: Record<string, string | string[]> = {
        ...(options.browser === false ? {} : SAME_ORIGIN),
        ...(target === null ? {} : { "x-fal-target-url": target }),
        ...(options.headers ?? {}),
      };
      const a = await send(gate.url, { ...options, headers });
      answers.push(a);
      return a;
    }

    /** A test the adapter may skip for a platform reason (the first of `checks` it skips); the reason shows in its name. */
    function platformTest(
      check: ConformanceCheck | ConformanceCheck[],
      name: string,
      fn: () => Promise<void>,
    ): void {
      const reason = (Array.isArray(check) ? check : [check]).map((c) => config.skip?.[c]).find(Boolean);
      if (reason) test.skip(`${name} (skipped on this platform: ${reason})`, fn);
      else test(name, fn);
    }

    function expectError(a: Answer, status: number, code: string): void {
      expect(a.status).toBe(status);
      expect(a.headers["content-type"]).toMatch(/^application\/json/);
      const body = a.json<ErrorBody>();
      expect(body.error.code).toBe(code);
      expect(body.message).toBe(body.error.message);
      expect(body.error.message.length).toBeGreaterThan(10);
    }

    describe("policy", () => {
      test("a call without x-fal-target-url is refused with 400 missing_target", async () => {
        expectError(await call(null, { method: "POST", body: "{}" }), 400, "missing_target");
        expect(mock.requests).toHaveLength(0);
      });

      test.each([
        ["not a URL", "fal.run/fal-ai/fast-sdxl"],
        ["userinfo", "https://user:pw@fal.run/fal-ai/fast-sdxl"],
        ["plain http", "http://fal.run/fal-ai/fast-sdxl"],
        ["a port", "https://fal.run:8443/fal-ai/fast-sdxl"],
      ])("a malformed target (%s) is refused with 400 and nothing is forwarded", async (_label, target) => {
        const a = await call(target, {
          method: "POST",
          body: "{}",
          headers: { "content-type": "application/json" },
        });
        expect(a.status).toBe(400);
        expect(a.json<ErrorBody>().error.code).toBe("invalid_target");
        expect(mock.requests).toHaveLength(0);
      });

      test.each([
        ["another host", "https://evil.example/fal-ai/fast-sdxl"],
        ["a suffix host", "https://fal.run.evil.example/fal-ai/fast-sdxl"],
        ["a rest.fal.ai path outside the allowlist", "https://rest.fal.ai/billing/keys"],
      ])("a target on %s is refused with 403 target_not_allowed", async (_label, target) => {
        expectError(await call(target, { method: "POST", body: "{}" }), 403, "target_not_allowed");
        expect(mock.requests).toHaveLength(0);
      });

      test("endpoints outside allowedEndpoints are refused for every method", async () => {
        expectError(
          await call("https://fal.run/someone/else", { method: "POST", body: "{}" }),
          403,
          "endpoint_not_allowed",
        );
        expectError(
          await call("https://queue.fal.run/someone/else/requests/abc/status", { method: "GET" }),
          403,
          "endpoint_not_allowed",
        );
        expectError(
          await call("https://queue.fal.run/someone/else/requests/abc/cancel", { method: "PUT" }),
          403,
          "endpoint_not_allowed",
        );
        expect(mock.requests).toHaveLength(0);
      });

      test("a cross-site Origin not in allowedOrigins is refused with 403 origin_not_allowed", async () => {
        const a = await call(RUN, {
          method: "POST",
          browser: false,
          headers: { origin: "https://evil.example", "content-type": "application/json" },
          body: JSON.stringify({ prompt: "x" }),
        });
        expectError(a, 403, "origin_not_allowed");
        expect(a.headers["access-control-allow-origin"]).toBeUndefined();
        expect(mock.requests).toHaveLength(0);
      });

      test("without an authorize hook a non-browser call is refused with 401 unauthenticated", async () => {
        const a = await call(RUN, { method: "POST", browser: false, body: JSON.stringify({ prompt: "x" }) });
        expectError(a, 401, "unauthenticated");
        expect(mock.requests).toHaveLength(0);
      });

      test("a webhook URL outside webhookOrigins is refused", async () => {
        const target = `https://queue.fal.run/fal-ai/fast-sdxl?fal_webhook=${encodeURIComponent("https://evil.example/hook")}`;
        expectError(
          await call(target, { method: "POST", body: JSON.stringify({ prompt: "x" }) }),
          403,
          "webhook_not_allowed",
        );
        expect(mock.requests).toHaveLength(0);
      });

      test("a CORS preflight from an allowed origin is answered by the proxy itself", async () => {
        const a = await call(null, {
          method: "OPTIONS",
          browser: false,
          headers: {
            origin: ALLOWED_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, x-fal-target-url",
          },
        });
        expect(a.status).toBe(204);
        expect(a.headers["access-control-allow-origin"]).toBe(ALLOWED_ORIGIN);
        expect(String(a.headers["access-control-allow-methods"])).toMatch(/\bPUT\b/);
        expect(String(a.headers["access-control-allow-headers"]).toLowerCase()).toContain("x-fal-target-url");
        expect(mock.requests).toHaveLength(0);
      });

      test("an allowed cross-origin call is forwarded and can read x-fal-request-id", async () => {
        const a = await call(RUN, {
          method: "POST",
          browser: false,
          headers: { origin: ALLOWED_ORIGIN, "content-type": "application/json" },
          body: JSON.stringify({ prompt: "cors" }),
        });
        expect(a.status).toBe(200);
        expect(a.headers["access-control-allow-origin"]).toBe(ALLOWED_ORIGIN);
        expect(String(a.headers["access-control-expose-headers"])).toContain("x-fal-request-id");
        expect(a.headers["x-fal-request-id"]).toBeTruthy();
      });
    });

    describe("token route", () => {
      test("POST {mount}/token mints a fal token through the same policy", async () => {
        const a = await send(`${gate.url}/token`, {
          method: "POST",
          headers: { ...SAME_ORIGIN, "content-type": "application/json" },
          body: JSON.stringify({ app: "fal-ai/fast-sdxl/realtime", type: "fal" }),
        });
        answers.push(a);
        expect(a.status).toBe(200);
        expect(a.json<string>()).toMatch(/^eyJ/);
        const seen = await mock.waitForRequest((r) => r.path.startsWith("/tokens"));
        expect(seen.host).toBe("rest.fal.ai");
        expect(seen.headers.authorization).toBe(`Key ${mock.key}`);
        expect((seen.json as { allowed_apps: string[] }).allowed_apps).toEqual(["fast-sdxl"]);

        const refused = await send(`${gate.url}/token`, {
          method: "POST",
          headers: { ...SAME_ORIGIN, "content-type": "application/json" },
          body: JSON.stringify({ app: "someone/else", type: "fal" }),
        });
        answers.push(refused);
        expectError(refused, 403, "endpoint_not_allowed");
      });
    });

    describe("DNS rebinding (host check)", () => {
      // A page on a name the attacker controls, its DNS rebound to the proxy's address: same-origin to the
      // browser, but its calls name the attacker's host. The suite's options have no `authorize` hook.
      const port = () => new URL(gate.url).port;
      const page = (host: string) => ({ host, origin: `http://${host}`, "content-type": "application/json" });

      test("a same-origin page on a rebound host name is refused 403 host_not_allowed, proxy and token route", async () => {
        const host = `rebind.attacker.example:${port()}`;
        const a = await call(RUN, {
          method: "POST",
          headers: page(host),
          body: JSON.stringify({ prompt: "x" }),
        });
        expectError(a, 403, "host_not_allowed");
        expect(a.json<ErrorBody>().error.message).toContain("allowedHosts");
        const token = await send(`${gate.url}/token`, {
          method: "POST",
          headers: { ...SAME_ORIGIN, ...page(host) },
          body: JSON.stringify({ app: "fal-ai/fast-sdxl/realtime", type: "fal" }),
        });
        answers.push(token);
        expectError(token, 403, "host_not_allowed");
        expect(mock.requests).toHaveLength(0);
      });

      test("loopback names and the hosts of allowedOrigins pass", async () => {
        for (const name of ["localhost", new URL(ALLOWED_ORIGIN).hostname]) {
          const a = await call(RUN, {
            method: "POST",
            headers: page(`${name}:${port()}`),
            body: JSON.stringify({ prompt: "x" }),
          });
          expect(a.status, name).toBe(200);
        }
        expect(mock.requests).toHaveLength(2);
      });
    });

    describe("methods", () => {
      test("POST: JSON in, JSON out, the key injected upstream", async () => {
        const a = await call(RUN, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ prompt: "a red fox" }),
        });
        expect(a.status).toBe(200);
        expect(a.json<{ images: unknown[] }>().images).toHaveLength(1);
        const seen = await mock.waitForRequest((r) => r.method === "POST");
        expect(seen.host).toBe("fal.run");
        expect(seen.path).toBe("/fal-ai/fast-sdxl");
        expect(seen.headers.authorization).toBe(`Key ${mock.key}`);
        expect(seen.json).toEqual({ prompt: "a red fox" });
      });

      test("GET keeps the target's query string", async () => {
        const a = await call(`${RUN}?prompt=query%20input&seed=7`, { method: "GET" });
        expect(a.status).toBe(200);
        const seen = await mock.waitForRequest((r) => r.method === "GET");
        expect(seen.search).toBe("?prompt=query%20input&seed=7");
        expect(seen.bodyLength).toBe(0);
      });

      test("PUT with an empty body (queue cancel) is forwarded as an empty PUT", async () => {
        const submit = await call("https://queue.fal.run/fal-ai/fast-sdxl", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ prompt: "to cancel" }),
        });
        const { request_id } = submit.json<{ request_id: string }>();
        const a = await call(`https://queue.fal.run/fal-ai/fast-sdxl/requests/${request_id}/cancel`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
        });
        expect(a.status).toBeLessThan(500);
        expect(a.json<{ status: string }>().status).toMatch(/CANCELLATION_REQUESTED|ALREADY_COMPLETED/);
        const seen = await mock.waitForRequest((r) => r.method === "PUT");
        expect(seen.path).toBe(`/fal-ai/fast-sdxl/requests/${request_id}/cancel`);
        expect(seen.bodyLength).toBe(0);
      });

      test.each(["DELETE", "PATCH"])("%s reaches upstream, and its answer comes back", async (method) => {
        // mock-fal serves GET and POST only: its 405 (with `allow`) must come back exactly as sent.
        const a = await call(ECHO, {
          method,
          headers: { "content-type": "application/json" },
          body: '{"m":1}',
        });
        // Recorded when it arrived; it settles only once its body is read (see the check below).
        const seen = mock.requests.find((r) => r.method === method);
        expect(seen?.headers["content-type"]).toBe("application/json");
        expect(a.status).toBe(seen?.status);
        expect(a.status).toBe(405);
        expect(a.headers.allow).toBe("GET, POST");
        expect(a.json()).toEqual({ detail: "Method Not Allowed" });
      });

      for (const method of ["DELETE", "PATCH"]) {
        platformTest(
          "early-answer-body",
          `${method}: its body reaches an upstream that answered before reading it, byte for byte`,
          async () => {
            await call(ECHO, { method, headers: { "content-type": "application/json" }, body: '{"m":1}' });
            // mock-fal answers 405 before reading the body; once read, it is the bytes sent.
            const body = await mock.waitForRequest((r) => r.method === method && r.complete);
            expect(body.body?.toString()).toBe('{"m":1}');
          },
        );
      }

      test("HEAD answers the upstream status and headers without a body", async () => {
        const a = await call(`${RUN}?prompt=head`, { method: "HEAD" });
        const seen = await mock.waitForRequest((r) => r.method === "HEAD");
        expect(a.status).toBe(seen.status);
        expect(a.body.byteLength).toBe(0);
      });

      test("OPTIONS without preflight headers is forwarded like any method", async () => {
        const a = await call(ECHO, { method: "OPTIONS" });
        const seen = await mock.waitForRequest((r) => r.method === "OPTIONS");
        expect(a.status).toBe(seen.status);
      });
    });

    describe("streaming", () => {
      test("an SSE answer passes through unchanged, event by event", async () => {
        const a = await call(`${RUN}/stream`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream" },
          body: JSON.stringify({ prompt: "stream me" }),
        });
        expect(a.status).toBe(200);
        expect(a.headers["content-type"]).toMatch(/^text\/event-stream/);
        const events = a
          .text()
          .split("\n\n")
          .filter((e) => e.startsWith("data: "));
        expect(events.length).toBeGreaterThan(1);
      });
    });

    describe("errors", () => {
      test("upstream 4xx answers pass through with their status and body", async () => {
        const a = await call(RUN, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ num_images: 99 }),
        });
        expect(a.status).toBe(422);
        const body = a.json<{ detail: Array<{ loc: string[] }> }>();
        expect(body.detail.map((d) => d.loc.join("."))).toContain("body.prompt");
      });

      test("an upstream 5xx passes through unchanged, not rewritten", async () => {
        mock.fault({
          kind: "status",
          status: 503,
          body: { detail: "overloaded" },
          headers: { "retry-after": "3" },
        });
        const a = await call(RUN, { method: "POST", body: JSON.stringify({ prompt: "x" }) });
        expect(a.status).toBe(503);
        expect(a.json()).toEqual({ detail: "overloaded" });
        expect(a.headers["retry-after"]).toBe("3");
      });

      test("an upstream that resets the connection answers 502 JSON with a code", async () => {
        mock.fault({ kind: "reset" });
        const a = await call(RUN, { method: "POST", body: JSON.stringify({ prompt: "x" }) });
        expectError(a, 502, "upstream_error");
      });

      test(`an unreachable upstream answers 502 ${config.unreachableCode ?? "upstream_unreachable"}`, async () => {
        // The proxy's upstream is the mock; a closed mock port is as unreachable as it gets. Restarting
        // would change the URL, so this check starts its own adapter instance.
        const dead = await startMockFal();
        const options = conformanceOptions(dead);
        await dead.close();
        const other = await config.start(options);
        try {
          const a = await send(other.url, {
            method: "POST",
            headers: { ...SAME_ORIGIN, "x-fal-target-url": RUN },
            body: "{}",
          });
          answers.push(a);
          expect(a.status).toBe(502);
          expect(a.json<ErrorBody>().error.code).toBe(config.unreachableCode ?? "upstream_unreachable");
        } finally {
          await other.close();
        }
      });

      platformTest(
        "early-413",
        "a declared body over the size cap is refused with 413 before it is sent",
        async () => {
          const a = await call(ECHO, {
            method: "POST",
            headers: {
              "content-type": "application/octet-stream",
              "content-length": String(64 * 1024 * 1024),
            },
            body: Buffer.alloc(1024),
          }).catch((error: unknown) => error);
          // Answering before the body is read is allowed to reset the socket; the status is what counts.
          if (a instanceof Error) throw a;
          expectError(a as Answer, 413, "payload_too_large");
        },
      );
    });

    describe("abort", () => {
      platformTest(
        "abort",
        "a client that disconnects while upstream works aborts the upstream request",
        async () => {
          mock.fault({ kind: "delay", delayMs: 60_000, path: /^\/fal-ai\/fast-sdxl$/ });
          const controller = new AbortController();
          const pending = call(RUN, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ prompt: "slow" }),
            signal: controller.signal,
          }).catch((error: unknown) => error);
          await mock.waitForRequest((r) => r.path === "/fal-ai/fast-sdxl" && r.complete, 15_000);
          controller.abort();
          expect(await pending).toBeInstanceOf(Error);
          const seen = await mock.waitForRequest((r) => r.aborted, 15_000);
          expect(seen.path).toBe("/fal-ai/fast-sdxl");
        },
      );
    });

    describe("raw control characters", () => {
      // Bytes no HTTP client library sends, written on a raw socket: the runtime's parser may refuse them (its own
      // 400), or pass what it made of them to falgate, which refuses them with a code. Never a 5xx, never forwarded.
      test.each([
        ["a CR inside the target", `${RUN}\rx`],
        ["a CR right after the colon (a line break to some parsers)", `\r${RUN}`],
        ["a CR before folded whitespace", `\r ${RUN}`],
        ["a CR at the end", `${RUN}\r`],
        ["a NUL inside the target", `${RUN}\u0000x`],
        ["a lone LF inside the target", `${RUN}\nx`],
      ])("x-fal-target-url with %s is refused with a 4xx and nothing is forwarded", async (_label, value) => {
        const url = new URL(gate.url);
        const answer = await sendRaw(
          gate.url,
          `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\nsec-fetch-site: same-origin\r\n` +
            `x-fal-target-url: ${value}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n` +
            "connection: close\r\n\r\n{}",
        );
        expect(answer.status).toBeGreaterThanOrEqual(400);
        expect(answer.status).toBeLessThan(500);
        const json = /\r\n\r\n(?:[0-9a-f]+\r\n)?(\{"error".*\})/s.exec(answer.text)?.[1];
        const refusal = json === undefined ? undefined : (JSON.parse(json) as { error?: unknown }).error;
        // falgate's own refusals carry a target code; a parser's or a framework's refusal is its own.
        if (typeof refusal === "object" && refusal !== null) {
          expect(["invalid_target", "missing_target"]).toContain((refusal as { code?: unknown }).code);
        }
        expect(answer.text).not.toContain(mock.key);
        expect(mock.requests).toHaveLength(0);
      });
    });

    describe("headers", () => {
      test("x-fal-* and content headers are forwarded; Authorization, cookies and hop-by-hop headers are not", async () => {
        await call(ECHO, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json",
            "x-fal-queue-priority": "low",
            "x-fal-runner-hint": "hint-1",
            "x-fal-request-timeout": "30",
            "x-fal-store-io": "0",
            authorization: "Bearer app-session-token",
            cookie: "session=secret-cookie",
            connection: "keep-alive, x-hop-named",
            "x-hop-named": "named in Connection",
            "keep-alive": "timeout=5",
            "proxy-authorization": "Basic cHJveHk6cHc=",
            te: "trailers",
            "x-custom-unknown": "not in the forward list",
          },
          body: "{}",
        });
        const seen = await mock.waitForRequest((r) => r.method === "POST");
        expect(seen.headers).toMatchObject({
          "content-type": "application/json",
          accept: "application/json",
          "x-fal-queue-priority": "low",
          "x-fal-runner-hint": "hint-1",
          "x-fal-request-timeout": "30",
          "x-fal-store-io": "0",
          authorization: `Key ${mock.key}`,
        });
        for (const name of [
          "cookie",
          "x-hop-named",
          "keep-alive",
          "proxy-authorization",
          "te",
          "x-fal-target-url",
          "x-custom-unknown",
        ]) {
          expect(seen.headers[name], name).toBeUndefined();
        }
      });

      test("set-cookie and hop-by-hop headers from upstream are dropped; fal's own headers pass", async () => {
        mock.fault({
          kind: "status",
          status: 200,
          body: { ok: true },
          headers: {
            "set-cookie": "fal_session=abc; Path=/",
            "keep-alive": "timeout=99",
            "proxy-authenticate": "Basic",
            "x-fal-request-id": "req-123",
            "x-fal-billable-units": "2",
          },
        });
        const a = await call(RUN, { method: "POST", body: JSON.stringify({ prompt: "x" }) });
        expect(a.status).toBe(200);
        expect(a.json()).toEqual({ ok: true });
        expect(a.headers["set-cookie"]).toBeUndefined();
        expect(a.headers["proxy-authenticate"]).toBeUndefined();
        expect(String(a.headers["keep-alive"] ?? "")).not.toContain("99");
        expect(a.headers["x-fal-request-id"]).toBe("req-123");
        expect(a.headers["x-fal-billable-units"]).toBe("2");
      });
    });

    describe("header hygiene: what fal's answers may set, Connection, preflights", () => {
      test("only allowlisted answer headers pass; every relayed answer is no-store, nosniff and sandboxed", async () => {
        const html = "<!doctype html><script>document.cookie='stolen=1'</script><h1>fal</h1>";
        mock.fault({
          kind: "status",
          status: 200,
          body: html,
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "public, max-age=3600",
            expires: "Thu, 01 Jan 2099 00:00:00 GMT",
            "set-cookie": "fal_session=abc; Path=/; HttpOnly",
            "clear-site-data": '"cookies", "storage"',
            refresh: "0; url=https://evil.example/",
            "content-security-policy": "script-src * 'unsafe-inline'",
            link: "<https://evil.example/x.css>; rel=preload; as=style",
            "strict-transport-security": "max-age=63072000; includeSubDomains; preload",
            "www-authenticate": 'Basic realm="fal"',
            location: "/logout",
            "content-disposition": "inline",
            vary: "x-upstream-only",
            "x-fal-request-id": "req-html",
            "x-fal-billable-units": "1",
          },
        });
        const a = await call(RUN, { method: "POST", body: JSON.stringify({ prompt: "x" }) });
        expect(a.status).toBe(200);
        // The body and its type pass unchanged (the official client reads both).
        expect(a.text()).toBe(html);
        expect(a.headers["content-type"]).toBe("text/html; charset=utf-8");
        expect(a.headers["x-fal-request-id"]).toBe("req-html");
        expect(a.headers["x-fal-billable-units"]).toBe("1");
        // Every call has the same URL: no cache may keep one user's answer for another.
        expect(a.headers["cache-control"]).toBe("no-store");
        expect(a.headers["x-content-type-options"]).toBe("nosniff");
        // fal's HTML can never run as a document of the app's origin.
        expect(a.headers["content-security-policy"]).toBe(
          "default-src 'none'; frame-ancestors 'none'; sandbox",
        );
        for (const name of [
          "expires",
          "set-cookie",
          "clear-site-data",
          "refresh",
          "link",
          "strict-transport-security",
          "www-authenticate",
          "location",
          "content-disposition",
        ]) {
          expect(a.headers[name], name).toBeUndefined();
        }
        expect(String(a.headers.vary ?? "")).not.toContain("x-upstream-only");
      });

      test("a 429 of fal keeps its JSON body and retry-after, and is no-store too", async () => {
        mock.fault({
          kind: "status",
          status: 429,
          body: { detail: "Too many requests" },
          headers: {
            "retry-after": "7",
            "cache-control": "public, max-age=60",
            "x-ratelimit-remaining": "0",
          },
        });
        const a = await call(RUN, { method: "POST", body: JSON.stringify({ prompt: "x" }) });
        expect(a.status).toBe(429);
        expect(a.json()).toEqual({ detail: "Too many requests" });
        expect(a.headers["retry-after"]).toBe("7");
        expect(a.headers["cache-control"]).toBe("no-store");
        expect(a.headers["x-ratelimit-remaining"]).toBeUndefined();
      });

      test("request headers named in Connection are not forwarded; a new x-fal-* header is", async () => {
        await call(ECHO, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            connection: "close, x-fal-runner-hint, x-fal-secret-hop",
            "x-fal-runner-hint": "named in Connection",
            "x-fal-secret-hop": "1",
            "x-fal-request-source": "conformance",
            "x-fal-queue-priority": "low",
          },
          body: "{}",
        });
        const seen = await mock.waitForRequest((r) => r.method === "POST");
        expect(seen.headers["x-fal-request-source"]).toBe("conformance");
        expect(seen.headers["x-fal-queue-priority"]).toBe("low");
        expect(seen.headers["x-fal-runner-hint"]).toBeUndefined();
        expect(seen.headers["x-fal-secret-hop"]).toBeUndefined();
      });

      test("a preflight allows the x-fal-* family it forwards, never cookie forwarding; the call then forwards it", async () => {
        const pre = await call(null, {
          method: "OPTIONS",
          browser: false,
          headers: {
            origin: ALLOWED_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers":
              "authorization,content-type,cookie,x-fal-request-source,x-fal-target-url,x-not-forwarded",
          },
        });
        expect(pre.status).toBe(204);
        const allowed = String(pre.headers["access-control-allow-headers"])
          .split(",")
          .map((h) => h.trim().toLowerCase())
          .sort();
        // `authorization` reaches the app's authorize hook (never fal); a cookie cannot be asked for.
        expect(allowed).toEqual([
          "authorization",
          "content-type",
          "x-fal-request-source",
          "x-fal-target-url",
        ]);
        expect(String(pre.headers.vary).toLowerCase()).toContain("access-control-request-headers");
        expect(mock.requests).toHaveLength(0);

        const a = await call(RUN, {
          method: "POST",
          browser: false,
          headers: {
            origin: ALLOWED_ORIGIN,
            "content-type": "application/json",
            authorization: "Bearer app-session-token",
            "x-fal-request-source": "browser",
          },
          body: JSON.stringify({ prompt: "cors" }),
        });
        expect(a.status).toBe(200);
        const seen = await mock.waitForRequest((r) => r.method === "POST");
        expect(seen.headers["x-fal-request-source"]).toBe("browser");
        expect(seen.headers.authorization).toBe(`Key ${mock.key}`);
      });
    });

    describe("binary bodies", () => {
      test("a 2 MiB binary body arrives byte-identical (sha256 at the mock)", async () => {
        const bytes = randomBytes(2 * 1024 * 1024);
        await call(ECHO, {
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body: bytes,
        });
        const seen = await mock.waitForRequest((r) => r.method === "POST");
        expect(seen.bodyLength).toBe(bytes.byteLength);
        expect(seen.bodySha256).toBe(sha256(bytes));
        expect(seen.headers["content-type"]).toBe("application/octet-stream");
      });

      test("a multipart body passes untouched, boundary included", async () => {
        const boundary = "----falgate-conformance";
        const file = randomBytes(4096);
        const body = Buffer.concat([
          Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.bin"\r\n`),
          Buffer.from("content-type: application/octet-stream\r\n\r\n"),
          file,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]);
        const type = `multipart/form-data; boundary=${boundary}`;
        await call(ECHO, { method: "POST", headers: { "content-type": type }, body });
        const seen = await mock.waitForRequest((r) => r.method === "POST");
        expect(seen.headers["content-type"]).toBe(type);
        expect(seen.bodySha256).toBe(sha256(body));
      });
    });

    describe("a long stream", () => {
      // A mock whose /stream answers last a minute, with a keep-alive comment every 100 ms: the first event
      // can only arrive in time if nothing between mock and client buffers, and the keep-alives let every
      // runtime notice a client that left.
      let slow: MockFal;
      let slowGate: HandlerUnderTest;
      beforeAll(async () => {
        slow = await startMockFal({ runMs: 60_000, keepAliveMs: 100 });
        slowGate = await config.start(conformanceOptions(slow));
      });
      afterAll(async () => {
        await slowGate?.close();
        await slow?.close();
      });

      test("the first SSE event arrives while upstream still streams; a client that leaves aborts upstream", async () => {
        const response = await open(slowGate.url, {
          method: "POST",
          headers: {
            ...SAME_ORIGIN,
            "x-fal-target-url": `${RUN}/stream`,
            "content-type": "application/json",
            accept: "text/event-stream",
          },
          body: JSON.stringify({ prompt: "a long stream" }),
        });
        try {
          expect(response.message.statusCode).toBe(200);
          expect(response.message.headers["content-type"]).toMatch(/^text\/event-stream/);
          const received = await readUntil(response.message, (text) => /data: .*\n\n/.test(text));
          const first = JSON.parse(
            received.slice(
              received.indexOf("data: ") + 6,
              received.indexOf("\n\n", received.indexOf("data: ")),
            ),
          );
          expect(first.images).toHaveLength(1);
          expect(received).not.toContain(slow.key);
          const upstream = slow.requests.find((r) => r.path.endsWith("/stream"));
          expect(upstream?.aborted).toBe(false);
        } finally {
          response.close();
        }
        const seen = await slow.waitForRequest((r) => r.path.endsWith("/stream") && r.aborted, 20_000);
        expect(seen.method).toBe("POST");
      });
    });

    describe("a truncated answer", () => {
      // fal resets the connection half-way through its answer (a raw socket upstream): the client must see an
      // error (a connection closed short of the declared length, or a chunked body without its last chunk),
      // never a clean end that passes half a body for a whole one.
      let cutting: CuttingUpstream;
      let cutGate: HandlerUnderTest;
      beforeAll(async () => {
        cutting = await startCuttingUpstream();
        cutGate = await config.start({ ...conformanceOptions(mock), upstream: cutting.url });
      });
      afterAll(async () => {
        await cutGate?.close();
        await cutting?.close();
      });

      async function cutAnswer(
        path: string,
      ): Promise<{ status: number; length: string | undefined; end: BodyEnd }> {
        const response = await open(cutGate.url, {
          method: "POST",
          headers: {
            ...SAME_ORIGIN,
            "x-fal-target-url": `https://fal.run/fal-ai/cut/${path}`,
            "content-type": "application/json",
          },
          body: "{}",
        });
        try {
          const end = await bodyEnd(response.message);
          return {
            status: response.message.statusCode ?? 0,
            length: response.message.headers["content-length"],
            end,
          };
        } finally {
          response.close();
        }
      }

      platformTest(
        "truncated",
        `a content-length answer reset after ${CUT_SENT} of ${CUT_DECLARED} bytes fails at the client`,
        async () => {
          const { status, end } = await cutAnswer("length");
          expect(status).toBe(200);
          expect(end.kind).toBe("error");
        },
      );

      platformTest(
        ["truncated", "relayed-length"],
        "an answer relayed unchanged keeps fal's content-length (the client knows how much is missing)",
        async () => {
          const { length } = await cutAnswer("length");
          expect(length).toBe(String(CUT_DECLARED));
        },
      );

      platformTest(
        ["truncated", "truncated-chunked"],
        "a chunked SSE answer reset mid-stream fails at the client (no last chunk)",
        async () => {
          const { status, end } = await cutAnswer("sse");
          expect(status).toBe(200);
          expect(end.kind).toBe("error");
          expect(end.bytes).toBeGreaterThan(0);
        },
      );
    });
  });
}

/** How a response body ended at the client: read to a clean end, or failed (reset, closed short, broken framing). */
interface BodyEnd {
  kind: "end" | "error";
  bytes: number;
}

/** Reads a body to its end and reports whether it ended cleanly, with the bytes that arrived. */
function bodyEnd(message: IncomingMessage): Promise<BodyEnd> {
  return new Promise((resolve) => {
    let bytes = 0;
    let settled = false;
    const done = (kind: BodyEnd["kind"]) => {
      if (settled) return;
      settled = true;
      resolve({ kind, bytes });
    };
    message.on("data", (chunk: Buffer) => {
      bytes += chunk.byteLength;
    });
    message.once("end", () => done("end"));
    message.once("error", () => done("error"));
    message.once("aborted", () => done("error"));
    // A socket closed without `end` is a body cut short.
    message.once("close", () => done(message.complete ? "end" : "error"));
  });
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
