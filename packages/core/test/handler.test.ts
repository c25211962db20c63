import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import {
  createFalgate,
  DEFAULT_TARGETS,
  type FalgateContext,
  type FalgateEnv,
  FalgateError,
  type FalgateOptions,
  type Logger,
  type ResponseInfo,
} from "../src/index.js";
import { type Route, startUpstream } from "./upstream.js";

const KEY = "test-key-id:test-key-secret-0123456789";
const PROXY = "http://app.test/api/fal/proxy";

type Upstream = Awaited<ReturnType<typeof startUpstream>>;
let upstream: Upstream;
let route: Route = (_req, res) => res.end("{}");

beforeAll(async () => {
  upstream = await startUpstream((req, res, seen) => route(req, res, seen));
});
afterAll(() => upstream.close());
afterEach(() => {
  upstream.seen.length = 0;
  route = (_req, res) => res.end("{}");
});

/** A loopback URL on which nothing listens (bound, then released). */
async function closedPortUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function silentLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn: (m, f) => lines.push(`${m} ${JSON.stringify(f ?? {})}`),
    error: (m, f) => lines.push(`${m} ${JSON.stringify(f ?? {})}`),
  };
}

function gate(options: FalgateOptions = {}) {
  const logger = silentLogger();
  const falgate = createFalgate({
    credentials: KEY,
    allowUnauthenticated: true,
    upstream: upstream.url,
    logger,
    // PROXY's host: not loopback, so it must be named (the DNS rebinding check).
    allowedHosts: ["app.test"],
    ...options,
  });
  const handler = (request: Request, env?: FalgateEnv, ctx?: FalgateContext) =>
    falgate.fetch(request, env, ctx);
  return Object.assign(handler, { logger, falgate });
}

function call(
  target: string | null,
  init: Omit<RequestInit, "headers"> & { headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { "content-type": "application/json", ...(init.headers ?? {}) };
  if (target !== null) headers["x-fal-target-url"] = target;
  return new Request(PROXY, {
    method: "POST",
    ...init,
    headers,
    ...(init.body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
}

async function errorOf(response: Response) {
  expect(response.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await response.json()) as { error: { code: string; message: string }; message: string };
  expect(body.message).toBe(body.error.message);
  return body.error;
}

describe("who may call", () => {
  test("no authorize hook: a non-browser call is refused with 401 and nothing reaches fal", async () => {
    const h = gate({ allowUnauthenticated: false });
    const res = await h(call("https://fal.run/fal-ai/flux/dev", { body: "{}" }));
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe("unauthenticated");
    expect(upstream.seen).toHaveLength(0);
    expect(h.logger.lines.join("\n")).toMatch(/no `authorize` hook/);
  });

  test("no authorize hook: same-origin browser calls pass (Sec-Fetch-Site or matching Origin)", async () => {
    const h = gate({ allowUnauthenticated: false });
    const a = await h(
      call("https://fal.run/fal-ai/flux/dev", { body: "{}", headers: { "sec-fetch-site": "same-origin" } }),
    );
    expect(a.status).toBe(200);
    const b = await h(
      call("https://fal.run/fal-ai/flux/dev", { body: "{}", headers: { origin: "http://app.test" } }),
    );
    expect(b.status).toBe(200);
    expect(upstream.seen).toHaveLength(2);
  });

  test("DNS rebinding: a same-origin call addressed to a host that is not allowed is refused 403 host_not_allowed", async () => {
    const rebound = (url: string, headers: Record<string, string> = {}) =>
      new Request(url, {
        method: "POST",
        body: "{}",
        headers: {
          "sec-fetch-site": "same-origin",
          "x-fal-target-url": "https://fal.run/fal-ai/flux/dev",
          ...headers,
        },
      });
    // Without a Host header (Web runtimes may hide it) the host of the request URL is checked.
    for (const h of [gate({ allowUnauthenticated: false }), gate()]) {
      const a = await h(rebound("http://rebind.attacker.example/api/fal/proxy"));
      expect(a.status).toBe(403);
      expect((await errorOf(a)).code).toBe("host_not_allowed");
      const b = await h(rebound("http://app.test/api/fal/proxy", { host: "rebind.attacker.example:3000" }));
      expect((await errorOf(b)).code).toBe("host_not_allowed");
    }
    expect(upstream.seen).toHaveLength(0);
    for (const url of [
      "http://127.0.0.1:3000",
      "http://[::1]:3000",
      "http://localhost:3000",
      "http://x.localhost",
    ]) {
      expect((await gate({ allowUnauthenticated: false })(rebound(`${url}/api/fal/proxy`))).status, url).toBe(
        200,
      );
    }
    // `true` turns the check off; an authorize hook turns it off unless allowedHosts is given.
    expect((await gate({ allowedHosts: true })(rebound("http://rebind.attacker.example/p"))).status).toBe(
      200,
    );
    const signedIn = { authorize: () => ({ id: "u" }), allowUnauthenticated: false };
    const byDefault = gate({ ...signedIn, allowedHosts: undefined });
    expect((await byDefault(rebound("http://rebind.attacker.example/p"))).status).toBe(200);
    const strict = await gate({ ...signedIn, allowedHosts: [".example.com"] })(
      rebound("http://rebind.attacker.example/p"),
    );
    expect((await errorOf(strict)).code).toBe("host_not_allowed");
    expect(
      (await gate({ ...signedIn, allowedHosts: [".example.com"] })(rebound("http://a.example.com/p"))).status,
    ).toBe(200);
  });

  test("cross-site origins are refused unless allowed, and allowed ones get CORS headers", async () => {
    const h = gate({ allowUnauthenticated: false, allowedOrigins: ["https://ok.example"] });
    const bad = await h(
      call("https://fal.run/fal-ai/flux/dev", { body: "{}", headers: { origin: "https://evil.example" } }),
    );
    expect(bad.status).toBe(403);
    expect((await errorOf(bad)).code).toBe("origin_not_allowed");
    expect(bad.headers.get("access-control-allow-origin")).toBeNull();
    const siteOnly = await h(
      call("https://fal.run/fal-ai/flux/dev", { body: "{}", headers: { "sec-fetch-site": "cross-site" } }),
    );
    expect(siteOnly.status).toBe(403);
    const ok = await h(
      call("https://fal.run/fal-ai/flux/dev", { body: "{}", headers: { origin: "https://ok.example" } }),
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://ok.example");
    expect(ok.headers.get("access-control-allow-credentials")).toBe("true");
    expect(ok.headers.get("access-control-expose-headers")).toContain("x-fal-request-id");
    expect(upstream.seen).toHaveLength(1);
  });

  test("CORS preflight from an allowed origin is answered locally; others are refused", async () => {
    const h = gate({ allowedOrigins: ["https://ok.example"], cors: { maxAge: 42 } });
    const pre = await h(
      new Request(PROXY, {
        method: "OPTIONS",
        headers: {
          origin: "https://ok.example",
          "access-control-request-method": "PUT",
          "access-control-request-headers": "content-type, x-fal-target-url",
        },
      }),
    );
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-methods")).toContain("PUT");
    expect(pre.headers.get("access-control-allow-headers")).toContain("x-fal-target-url");
    expect(pre.headers.get("access-control-max-age")).toBe("42");
    const bad = await h(
      new Request(PROXY, {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
      }),
    );
    expect(bad.status).toBe(403);
    expect(upstream.seen).toHaveLength(0);
  });

  test("authorize hook: null answers 401, a principal passes and narrows the endpoints", async () => {
    const h = gate({
      allowUnauthenticated: false,
      authorize: (req) =>
        req.headers.get("authorization") === "Bearer good"
          ? { id: "u1", endpoints: ["fal-ai/fast-sdxl"] }
          : null,
    });
    const anon = await h(call("https://fal.run/fal-ai/fast-sdxl", { body: "{}" }));
    expect(anon.status).toBe(401);
    const ok = await h(
      call("https://fal.run/fal-ai/fast-sdxl", { body: "{}", headers: { authorization: "Bearer good" } }),
    );
    expect(ok.status).toBe(200);
    const other = await h(
      call("https://fal.run/fal-ai/flux/dev", { body: "{}", headers: { authorization: "Bearer good" } }),
    );
    expect(other.status).toBe(403);
    expect((await errorOf(other)).code).toBe("endpoint_not_allowed");
    expect(upstream.seen).toHaveLength(1);
  });

  test("authorize hook can refuse with its own FalgateError", async () => {
    const h = gate({
      authorize: () => {
        throw new FalgateError("forbidden", "Your plan does not include this.");
      },
    });
    const res = await h(call("https://fal.run/fal-ai/flux/dev", { body: "{}" }));
    expect(res.status).toBe(403);
    expect(await errorOf(res)).toEqual({ code: "forbidden", message: "Your plan does not include this." });
  });
});

describe("foreign errors", () => {
  test("a hook throwing an object shaped like a FalgateError with an inherited code gets a 500, not a crash", async () => {
    for (const code of ["toString", "constructor", "__proto__"]) {
      const h = gate({
        authorize: () => {
          throw Object.assign(new Error("x"), { name: "FalgateError", code });
        },
      });
      const res = await h(call("https://fal.run/a/b", { body: "{}" }));
      expect(res.status, code).toBe(500);
      expect((await errorOf(res)).code).toBe("internal_error");
    }
  });
});

describe("the key", () => {
  test("is injected upstream; the browser's Authorization and cookies never are", async () => {
    const h = gate({ authorize: () => ({ id: "u" }) });
    const res = await h(
      call("https://fal.run/fal-ai/flux/dev", {
        body: '{"prompt":"a cat"}',
        headers: {
          authorization: "Bearer app-session",
          cookie: "sid=secret",
          "x-other": "1",
          "x-fal-queue-priority": "low",
        },
      }),
    );
    expect(res.status).toBe(200);
    const [seen] = upstream.seen;
    expect(seen?.headers.authorization).toBe(`Key ${KEY}`);
    expect(seen?.headers.cookie).toBeUndefined();
    expect(seen?.headers["x-other"]).toBeUndefined();
    expect(seen?.headers["x-fal-target-url"]).toBeUndefined();
    expect(seen?.headers["x-fal-queue-priority"]).toBe("low");
    expect(seen?.headers["x-falgate-upstream-host"]).toBe("fal.run");
    expect(seen?.url).toBe("/fal-ai/flux/dev");
  });

  test("comes from env: FAL_KEY, or FAL_KEY_ID + FAL_KEY_SECRET; options.env is layered over the platform env, read live", async () => {
    const platform: Record<string, string> = { FAL_KEY: "from-platform" };
    // options.env wins for the names it sets...
    await gate({ credentials: undefined, env: { FAL_KEY: "from-options" } })(
      call("https://fal.run/a/b", { body: "{}" }),
      platform,
    );
    // ...and every other name is the platform's (a token secret in options must not hide the platform's key).
    const layered = gate({ credentials: undefined, env: { FALGATE_TOKEN_SECRET: "s".repeat(32) } });
    await layered(call("https://fal.run/a/b", { body: "{}" }), platform);
    // Read live: a value the platform changes later counts.
    platform.FAL_KEY = "rotated";
    await layered(call("https://fal.run/a/b", { body: "{}" }), platform);
    await gate({ credentials: undefined })(call("https://fal.run/a/b", { body: "{}" }), {
      FAL_KEY_ID: "id",
      FAL_KEY_SECRET: "secret",
    });
    expect(upstream.seen.map((s) => s.headers.authorization)).toEqual([
      "Key from-options",
      "Key from-platform",
      "Key rotated",
      "Key id:secret",
    ]);
  });

  test("an async resolver gets the principal", async () => {
    const resolver = vi.fn(async ({ principal }: { principal: { id: string } }) => `key-for-${principal.id}`);
    const h = gate({ credentials: resolver, authorize: () => ({ id: "org-7" }) });
    await h(call("https://fal.run/a/b", { body: "{}" }));
    expect(upstream.seen[0]?.headers.authorization).toBe("Key key-for-org-7");
  });

  test("a key that cannot be a header value (control characters) is missing_credentials and never logged", async () => {
    const secret = "abcd:se\u0000cret-value-xyz";
    for (const bad of [secret, "abcd:tab\tkey", "abcd:del\u007fkey", "abcd:snow\u2603key"]) {
      const h = gate({ credentials: bad });
      const res = await h(call("https://fal.run/a/b", { body: "{}" }));
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text).error.code).toBe("missing_credentials");
      expect(text).not.toContain("cret-value");
      expect(h.logger.lines.join("\n")).not.toContain("cret-value");
    }
    expect(upstream.seen).toHaveLength(0);
  });

  test("missing key is a clear missing_credentials error, never `Key undefined` upstream", async () => {
    for (const h of [
      gate({ credentials: undefined }),
      gate({ credentials: async () => undefined }),
      gate({ credentials: undefined, env: { FAL_KEY_ID: "only-id" } }),
    ]) {
      const res = await h(call("https://fal.run/a/b", { body: "{}" }));
      expect(res.status).toBe(500);
      expect((await errorOf(res)).code).toBe("missing_credentials");
    }
    expect(upstream.seen).toHaveLength(0);
  });

  test("never appears in any response body, header or log line", async () => {
    const h = gate();
    const texts: string[] = [];
    const targets = [
      null,
      "not a url",
      "http://fal.run/a/b",
      "https://user:pw@fal.run/a/b",
      "https://evil.example/a/b",
      "https://fal.run/a/b",
    ];
    route = (_req, res) => {
      res.statusCode = 401;
      res.setHeader("content-type", "application/json");
      res.end('{"detail":"bad key"}');
    };
    for (const t of targets) {
      const res = await h(call(t, { body: "{}" }));
      texts.push(JSON.stringify([...res.headers]), await res.text());
    }
    const dead = gate({ upstream: await closedPortUrl() });
    const res = await dead(call("https://fal.run/a/b", { body: "{}" }));
    texts.push(JSON.stringify([...res.headers]), await res.text());
    const all = texts.join("\n") + h.logger.lines.join("\n") + dead.logger.lines.join("\n");
    expect(all).not.toContain(KEY);
    expect(all).not.toContain("test-key-secret");
  });
});

describe("targets and endpoints", () => {
  test.each([
    [null, 400, "missing_target"],
    ["::::", 400, "invalid_target"],
    ["http://fal.run/fal-ai/flux", 400, "invalid_target"],
    ["https://fal.run.evil.com/fal-ai/flux", 403, "target_not_allowed"],
    ["https://rest.fal.ai/billing/", 403, "target_not_allowed"],
  ])("%s -> %i %s, nothing forwarded", async (target, status, code) => {
    const res = await gate()(call(target, { body: "{}" }));
    expect(res.status).toBe(status);
    expect((await errorOf(res)).code).toBe(code);
    expect(upstream.seen).toHaveLength(0);
  });

  test("a token request is policed on every allowed host that serves /tokens/, not only rest.fal.ai", async () => {
    const h = gate({
      allowedEndpoints: ["fal-ai/fast-sdxl"],
      allowedTargets: [...DEFAULT_TARGETS, { host: "api.fal.ai", paths: ["/tokens/"] }],
    });
    for (const host of ["rest.fal.ai", "api.fal.ai"]) {
      const refused = await h(
        call(`https://${host}/tokens/`, {
          body: JSON.stringify({ allowed_apps: ["flux-pro"], token_expiration: 86400 }),
        }),
      );
      expect(refused.status, host).toBe(403);
      expect((await errorOf(refused)).code).toBe("endpoint_not_allowed");
    }
    expect(upstream.seen).toHaveLength(0);
    const ok = await h(
      call("https://api.fal.ai/tokens/", {
        body: JSON.stringify({ allowed_apps: ["fast-sdxl"], token_expiration: 86400, extra: 1 }),
      }),
    );
    expect(ok.status).toBe(200);
    expect(JSON.parse((await upstream.seen[0]?.bodyDone)?.toString() ?? "null")).toEqual({
      allowed_apps: ["fast-sdxl"],
      token_expiration: 120,
    });
  });

  test("the endpoint allowlist applies to every method and to queue request URLs", async () => {
    const h = gate({ allowedEndpoints: ["fal-ai/flux/*"] });
    const allowed = [
      ["POST", "https://queue.fal.run/fal-ai/flux/dev"],
      ["GET", "https://queue.fal.run/fal-ai/flux/requests/r1/status?logs=1"],
      ["PUT", "https://queue.fal.run/fal-ai/flux/requests/r1/cancel"],
    ] as const;
    for (const [method, target] of allowed) {
      const res = await h(call(target, { method, ...(method === "POST" ? { body: "{}" } : {}) }));
      expect(res.status, `${method} ${target}`).toBe(200);
    }
    for (const [method, target] of [
      ["GET", "https://queue.fal.run/fal-ai/other/requests/r1"],
      ["PUT", "https://queue.fal.run/fal-ai/other/requests/r1/cancel"],
      ["DELETE", "https://fal.run/fal-ai/other"],
    ] as const) {
      const res = await h(call(target, { method }));
      expect(res.status, `${method} ${target}`).toBe(403);
    }
    expect(upstream.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      "POST /fal-ai/flux/dev",
      "GET /fal-ai/flux/requests/r1/status?logs=1",
      "PUT /fal-ai/flux/requests/r1/cancel",
    ]);
  });

  test("fal_webhook is refused unless its origin is configured", async () => {
    const target = (hook: string) =>
      `https://queue.fal.run/fal-ai/flux/dev?fal_webhook=${encodeURIComponent(hook)}`;
    const refused = await gate()(call(target("https://hooks.example/fal"), { body: "{}" }));
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).code).toBe("webhook_not_allowed");
    const ok = await gate({ webhookOrigins: ["https://hooks.example"] })(
      call(target("https://hooks.example/fal"), { body: "{}" }),
    );
    expect(ok.status).toBe(200);
    expect(upstream.seen[0]?.url).toBe(
      `/fal-ai/flux/dev?fal_webhook=${encodeURIComponent("https://hooks.example/fal")}`,
    );
  });

  test("unsupported methods answer 405 with Allow", async () => {
    const res = await gate()(
      new Request(PROXY, {
        method: "PROPFIND",
        headers: { "x-fal-target-url": "https://fal.run/a/b" },
      }).clone(),
    );
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toContain("PATCH");
  }, 10_000);
});

describe("forwarding", () => {
  test("bodies pass byte-identical (binary) and content-type/accept are kept as sent", async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 31) % 256);
    route = (_req, res, seen) => {
      void seen.bodyDone.then((b) => {
        res.setHeader("content-type", "application/octet-stream");
        res.end(b);
      });
    };
    const res = await gate()(
      call("https://fal.run/fal-ai/echo", {
        body: bytes,
        headers: { "content-type": "application/octet-stream", accept: "*/*" },
      }),
    );
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
    expect(upstream.seen[0]?.headers["content-type"]).toBe("application/octet-stream");
    expect(upstream.seen[0]?.headers.accept).toBe("*/*");
  });

  test("multipart bodies pass untouched", async () => {
    const form = new FormData();
    form.set("file", new Blob([new Uint8Array([0, 1, 2, 255])]), "x.bin");
    const request = new Request(PROXY, {
      method: "POST",
      body: form,
      headers: { "x-fal-target-url": "https://fal.run/a/b" },
    });
    const sent = await request.clone().arrayBuffer();
    await gate()(request);
    await upstream.seen[0]?.bodyDone;
    expect(upstream.seen[0]?.body.equals(Buffer.from(sent))).toBe(true);
    expect(upstream.seen[0]?.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/);
  });

  test("PUT with an empty body, DELETE, PATCH and HEAD are forwarded", async () => {
    const h = gate();
    for (const method of ["PUT", "DELETE", "PATCH", "HEAD", "GET"]) {
      const res = await h(call("https://queue.fal.run/fal-ai/flux/requests/r/cancel", { method }));
      expect(res.status, method).toBe(200);
    }
    expect(upstream.seen.map((s) => s.method)).toEqual(["PUT", "DELETE", "PATCH", "HEAD", "GET"]);
  });

  test("upstream errors pass through unchanged, with x-fal-request-id", async () => {
    route = (_req, res) => {
      res.writeHead(422, { "content-type": "application/json", "x-fal-request-id": "req-9" });
      res.end('{"detail":[{"loc":["body","prompt"],"msg":"field required","type":"value_error.missing"}]}');
    };
    const res = await gate()(call("https://fal.run/fal-ai/flux/dev", { body: "{}" }));
    expect(res.status).toBe(422);
    expect(res.headers.get("x-fal-request-id")).toBe("req-9");
    expect(await res.json()).toEqual({
      detail: [{ loc: ["body", "prompt"], msg: "field required", type: "value_error.missing" }],
    });
  });

  test("hop-by-hop, Connection-named, set-cookie and upstream CORS headers are stripped", async () => {
    route = (_req, res) => {
      res.setHeader("connection", "keep-alive, x-secret-hop");
      res.setHeader("x-secret-hop", "1");
      res.setHeader("keep-alive", "timeout=5");
      res.setHeader("set-cookie", ["a=1", "b=2"]);
      res.setHeader("access-control-allow-origin", "*");
      res.setHeader("x-fal-billable-units", "3");
      res.end("{}");
    };
    const res = await gate()(call("https://fal.run/a/b", { body: "{}" }));
    expect(res.headers.get("x-secret-hop")).toBeNull();
    expect(res.headers.get("keep-alive")).toBeNull();
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("x-fal-billable-units")).toBe("3");
  });

  test("request headers named in Connection are not forwarded, whatever forwardHeaders lists", async () => {
    const h = gate({ forwardHeaders: ["x-fal-*", "x-secret-hop", "x-kept"] });
    const res = await h(
      call("https://fal.run/a/b", {
        body: "{}",
        headers: {
          connection: "close, X-Secret-Hop, user-agent, x-fal-runner-hint",
          "x-secret-hop": "1",
          "x-kept": "2",
          "user-agent": "named",
          "x-fal-runner-hint": "named",
          "x-fal-request-source": "kept",
        },
      }),
    );
    expect(res.status).toBe(200);
    const [seen] = upstream.seen;
    expect(seen?.headers["x-secret-hop"]).toBeUndefined();
    expect(seen?.headers["user-agent"]).not.toBe("named"); // fetch may add its own
    expect(seen?.headers["x-fal-runner-hint"]).toBeUndefined();
    expect(seen?.headers["x-kept"]).toBe("2");
    expect(seen?.headers["x-fal-request-source"]).toBe("kept");
  });

  test("an explicit forwardHeaders list is the one rule for forwarding and for preflights", async () => {
    const h = gate({ allowedOrigins: ["https://ok.example"], forwardHeaders: ["x-fal-queue-priority"] });
    const pre = await h(
      new Request(PROXY, {
        method: "OPTIONS",
        headers: {
          origin: "https://ok.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "x-fal-queue-priority, x-fal-request-source",
        },
      }),
    );
    expect(pre.headers.get("access-control-allow-headers")).toBe("x-fal-queue-priority");
    const none = await h(
      new Request(PROXY, {
        method: "OPTIONS",
        headers: { origin: "https://ok.example", "access-control-request-method": "POST" },
      }),
    );
    expect(none.headers.get("access-control-allow-headers")).toBe(
      "content-type, accept, authorization, x-fal-target-url, x-fal-queue-priority",
    );
    await h(
      call("https://fal.run/a/b", {
        body: "{}",
        headers: { "x-fal-queue-priority": "low", "x-fal-request-source": "not listed" },
      }),
    );
    expect(upstream.seen[0]?.headers["x-fal-queue-priority"]).toBe("low");
    expect(upstream.seen[0]?.headers["x-fal-request-source"]).toBeUndefined();
  });

  test("a compressed answer is decoded once: no content-encoding or stale content-length reaches the client", async () => {
    const json = JSON.stringify({
      images: Array.from({ length: 50 }, (_, i) => ({ url: `https://cdn/${i}.png` })),
    });
    const gz = gzipSync(json);
    route = (_req, res) => {
      res.writeHead(200, {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "content-length": gz.length,
      });
      res.end(gz);
    };
    const res = await gate()(call("https://fal.run/a/b", { body: "{}" }));
    expect(res.headers.get("content-encoding")).toBeNull();
    expect(res.headers.get("content-length")).toBeNull();
    expect(await res.text()).toBe(json);
    // The browser's accept-encoding is not forwarded: falgate asks only for codings every fetch decodes (no zstd).
    expect(upstream.seen[0]?.headers["accept-encoding"]).toBe("gzip, deflate, br");
  });

  test("an encoding fetch does not decode keeps its headers, bytes untouched", async () => {
    route = (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-encoding": "x-custom" });
      res.end(Buffer.from([1, 2, 3]));
    };
    const res = await gate()(call("https://fal.run/a/b", { body: "{}" }));
    expect(res.headers.get("content-encoding")).toBe("x-custom");
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([1, 2, 3]);
  });

  test("SSE: the first event reaches the client before upstream finishes", async () => {
    let finish!: () => void;
    const finished = new Promise<void>((r) => {
      finish = r;
    });
    route = async (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('data: {"partial":1}\n\n');
      await finished;
      res.end('data: {"done":true}\n\n');
    };
    const res = await gate()(
      call("https://fal.run/fal-ai/flux/dev/stream", {
        body: "{}",
        headers: { accept: "application/json, text/event-stream" },
      }),
    );
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: {"partial":1}\n\n');
    finish();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('data: {"done":true}\n\n');
  });
});

describe("limits, timeouts and failures", () => {
  test("a declared body over the cap answers 413 before anything is sent", async () => {
    const res = await gate({ maxBodySize: 10 })(
      call("https://fal.run/a/b", { body: "x".repeat(11), headers: { "content-length": "11" } }),
    );
    expect(res.status).toBe(413);
    expect((await errorOf(res)).code).toBe("payload_too_large");
    expect(upstream.seen).toHaveLength(0);
  });

  test("a streamed body over the cap answers 413", async () => {
    route = (_req, res, seen) => {
      void seen.bodyDone.then(() => res.end("{}"));
    };
    const chunks = 50;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const res = await gate({ maxBodySize: chunks * 1024 })(call("https://fal.run/a/b", { body }));
    expect(res.status).toBe(413);
  });

  test("an unreachable upstream answers 502 upstream_unreachable", async () => {
    const res = await gate({ upstream: await closedPortUrl() })(call("https://fal.run/a/b", { body: "{}" }));
    expect(res.status).toBe(502);
    expect((await errorOf(res)).code).toBe("upstream_unreachable");
  });

  test("no answer within the headers timeout answers 504 and aborts upstream", async () => {
    route = () => undefined; // never answers
    const res = await gate({ timeouts: { headers: 200 } })(call("https://fal.run/a/b", { body: "{}" }));
    expect(res.status).toBe(504);
    expect((await errorOf(res)).code).toBe("upstream_timeout");
    await upstream.seen[0]?.aborted;
  });

  test("a stalled body stream is cut after the idle timeout and upstream is closed", async () => {
    route = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: 1\n\n"); // then silence
    };
    const onResponse = vi.fn<(info: ResponseInfo) => void>();
    const res = await gate({ timeouts: { idle: 200 }, onResponse })(
      call("https://fal.run/a/b/stream", { body: "{}" }),
    );
    const reader = res.body!.getReader();
    await reader.read();
    await expect(reader.read()).rejects.toBeDefined();
    await upstream.seen[0]?.aborted;
    await vi.waitFor(() => expect(onResponse).toHaveBeenCalledOnce());
    expect(onResponse.mock.calls[0]?.[0].error).toBe("upstream_timeout");
  });

  test("onResponse also reports calls that failed before an answer (502, 504, streamed 413)", async () => {
    const seenBy = async (options: FalgateOptions, init: Parameters<typeof call>[1]) => {
      const onResponse = vi.fn<(info: ResponseInfo) => void>();
      const res = await gate({ ...options, onResponse })(call("https://fal.run/a/b", init));
      await vi.waitFor(() => expect(onResponse).toHaveBeenCalledOnce());
      return { status: res.status, info: onResponse.mock.calls[0]?.[0] };
    };
    const unreachable = await seenBy({ upstream: await closedPortUrl() }, { body: "{}" });
    expect(unreachable).toMatchObject({ status: 502, info: { status: 502, error: "upstream_unreachable" } });

    route = () => undefined;
    const slow = await seenBy({ timeouts: { headers: 150 } }, { body: "{}" });
    expect(slow).toMatchObject({ status: 504, info: { status: 504, error: "upstream_timeout" } });

    route = (_req, res, seen) => {
      void seen.bodyDone.then(() => res.end("{}"));
    };
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const big = await seenBy({ maxBodySize: 256 * 1024 }, { body });
    expect(big).toMatchObject({ status: 413, info: { status: 413, error: "payload_too_large" } });
    expect(big.info?.bytesIn).toBeGreaterThan(256 * 1024);
  });

  test("the idle timeout measures fal's silence, not a slow client: a paused reader still gets everything", async () => {
    const size = 4 * 1024 * 1024;
    route = (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(Buffer.alloc(size, 7)); // all at once: fal is never silent
    };
    const onResponse = vi.fn<(info: ResponseInfo) => void>();
    const res = await gate({ timeouts: { idle: 150 }, onResponse })(
      call("https://fal.run/a/b", { body: "{}" }),
    );
    const reader = res.body!.getReader();
    let received = (await reader.read()).value?.byteLength ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 600)); // four idle timeouts without asking for more
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
    }
    expect(received).toBe(size);
    await vi.waitFor(() => expect(onResponse).toHaveBeenCalledOnce());
    expect(onResponse.mock.calls[0]?.[0].error).toBeUndefined();
  });

  test("a client abort before the answer aborts the upstream request", async () => {
    route = () => undefined;
    const controller = new AbortController();
    const pending = gate()(call("https://fal.run/a/b", { body: "{}", signal: controller.signal }));
    const seen = await upstream.next();
    controller.abort();
    await seen.aborted;
    await pending; // settles, never hangs
  });

  test("a client cancelling the response body closes the upstream stream", async () => {
    route = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: 1\n\n");
    };
    const res = await gate()(call("https://fal.run/a/b/stream", { body: "{}" }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await upstream.seen[0]?.aborted;
  });
});

describe("hooks and options", () => {
  test("onRequest sees the principal and endpoint; onResponse gets status, bytes, duration and request id", async () => {
    route = (_req, res) => {
      res.setHeader("x-fal-request-id", "rid-1");
      res.end('{"ok":true}');
    };
    const onRequest = vi.fn();
    const onResponse = vi.fn<(info: ResponseInfo) => void>();
    const res = await gate({ authorize: () => ({ id: "u42" }), onRequest, onResponse })(
      call("https://queue.fal.run/fal-ai/flux/dev", { body: '{"prompt":"x"}' }),
    );
    await res.text();
    await vi.waitFor(() => expect(onResponse).toHaveBeenCalledOnce());
    expect(onRequest.mock.calls[0]?.[0]).toMatchObject({
      principal: { id: "u42" },
      endpointId: "fal-ai/flux/dev",
      method: "POST",
    });
    expect(onResponse.mock.calls[0]?.[0]).toMatchObject({
      principal: { id: "u42" },
      endpointId: "fal-ai/flux/dev",
      status: 200,
      bytesIn: 14,
      bytesOut: 11,
      requestId: "rid-1",
    });
    expect(onResponse.mock.calls[0]?.[0].durationMs).toBeGreaterThanOrEqual(0);
  });

  test("onResponse work is handed to ctx.waitUntil (Workers keep it alive after the response)", async () => {
    let finishHook!: () => void;
    const hookDone = new Promise<void>((resolve) => {
      finishHook = resolve;
    });
    const waited: Array<Promise<unknown>> = [];
    const h = gate({ onResponse: () => hookDone });
    const res = await h(call("https://fal.run/a/b", { body: "{}" }), undefined, {
      waitUntil: (p) => waited.push(p),
    });
    await res.text();
    await vi.waitFor(() => expect(waited).toHaveLength(1));
    let settled = false;
    void waited[0]?.then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    finishHook();
    await waited[0];
    expect(settled).toBe(true);
  });

  test("onRequest can refuse (rate limiting)", async () => {
    const h = gate({
      onRequest: () => {
        throw new FalgateError("rate_limited", "Slow down.", { headers: { "retry-after": "3" } });
      },
    });
    const res = await h(call("https://fal.run/a/b", { body: "{}" }));
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(upstream.seen).toHaveLength(0);
  });

  test.each([
    [{ credentials: "" }, "credentials"],
    [{ allowedOrigins: ["https://ok.example/path"] }, "allowedOrigins"],
    [{ maxBodySize: -1 }, "maxBodySize"],
    [{ timeouts: { idle: Number.NaN } }, "timeouts.idle"],
    [{ forwardHeaders: ["authorization"] }, "forwardHeaders"],
    [{ forwardHeaders: ["connection"] }, "forwardHeaders"],
    [{ forwardHeaders: ["*"] }, "forwardHeaders"],
    [{ forwardHeaders: ["cook*"] }, "forwardHeaders"],
    [{ forwardHeaders: ["proxy-*"] }, "forwardHeaders"],
    [{ cors: { allowHeaders: ["x bad"] } }, "cors.allowHeaders"],
    [{ upstream: "ftp://x" }, "upstream"],
    [{ webhookOrigins: ["not an origin"] }, "webhookOrigins"],
    [{ webhookOrigins: ["http://hooks.example"] }, "webhookOrigins"],
    [{ allowedHosts: false }, "allowedHosts"],
    [{ allowedHosts: "app.example.com" }, "allowedHosts"],
    [{ allowedHosts: ["https://app.example.com"] }, "allowedHosts"],
    [{ allowedHosts: ["app.example.com:443"] }, "allowedHosts"],
    [{ allowedHosts: ["*.example.com"] }, "allowedHosts"],
    [{ allowedHosts: ["bad host"] }, "allowedHosts"],
    [{ allowedHosts: ["."] }, "allowedHosts"],
    [{ allowedHosts: [42] }, "allowedHosts"],
  ] as Array<[FalgateOptions, string]>)("bad option %j throws a TypeError naming %s", (options, name) => {
    expect(() => createFalgate(options)).toThrow(TypeError);
    expect(() => createFalgate(options)).toThrow(new RegExp(`\`${name.replace(".", "\\.")}\``));
  });
});
