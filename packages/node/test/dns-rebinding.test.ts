import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { openSocket } from "@falgate/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type CliRun, type RunningServer, runCli, startServer } from "../src/index.js";
import { send } from "./helpers.js";

// DNS rebinding (issue 13, finding 1): a page on a name the attacker controls, whose DNS answer is switched to
// the proxy's loopback or intranet address, is same-origin to the browser. Its calls carry that name as `Host`.

const TOKEN_SECRET = "token-secret-7d1e9a3c5b2f4e6a8c0d1f3b";
const REBIND = "rebind.attacker.example";
const RUN = "https://fal.run/fal-ai/fast-sdxl";

let mock: MockFal;
const runs: CliRun[] = [];
const servers: RunningServer[] = [];

beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());
afterEach(async () => {
  for (const run of runs.splice(0)) await run.server?.close();
  for (const server of servers.splice(0)) await server.close();
  mock.reset();
});

/** The `falgate` command as a terminal runs it, with `--upstream` to the mock; resolves the server's port. */
async function falgate(...flags: string[]): Promise<number> {
  const run = await runCli(["--port", "0", "--upstream", mock.url, ...flags], {
    env: { FAL_KEY: mock.key, FALGATE_TOKEN_SECRET: TOKEN_SECRET },
    stdout: () => {},
    stderr: () => {},
  });
  runs.push(run);
  if (!run.server) throw new Error(`falgate did not start (exit ${run.exitCode})`);
  return Number(new URL(run.server.url).port);
}

/** What a same-origin page on `host` sends: its own name as `Host` and `Origin`, `Sec-Fetch-Site: same-origin`. */
function page(host: string): Record<string, string> {
  return {
    host,
    origin: `http://${host}`,
    "sec-fetch-site": "same-origin",
    "content-type": "application/json",
  };
}

async function post(port: number, path: string, headers: Record<string, string>, body: string) {
  return send(`http://127.0.0.1:${port}/api/fal/proxy${path}`, { method: "POST", headers, body });
}

/** A call to fal-ai/fast-sdxl as a page on `host` makes it. */
function run(port: number, host: string, extra: Record<string, string> = {}) {
  return post(port, "", { ...page(host), "x-fal-target-url": RUN, ...extra }, '{"prompt":"x"}');
}

function codeOf(answer: { body: Buffer }): string {
  return (JSON.parse(answer.body.toString()) as { error: { code: string } }).error.code;
}

function messageOf(answer: { body: Buffer }): string {
  return (JSON.parse(answer.body.toString()) as { error: { message: string } }).error.message;
}

describe("the standalone server refuses a rebound host name", () => {
  test("the issue's repro: a same-origin page on the attacker's name is refused 403 host_not_allowed, nothing forwarded", async () => {
    const port = await falgate();
    const rebound = `${REBIND}:${port}`;
    const a = await run(port, rebound);
    expect(a.status).toBe(403);
    expect(codeOf(a)).toBe("host_not_allowed");
    // Actionable: names the host, the option and the flag.
    expect(messageOf(a)).toContain(`"${REBIND}"`);
    expect(messageOf(a)).toContain("allowedHosts");
    expect(messageOf(a)).toContain("--allowed-hosts");
    expect(mock.requests).toHaveLength(0);
  });

  test("the token route refuses it too: falgate mints, fal mints and intercepted fal token requests", async () => {
    const port = await falgate();
    const headers = page(`${REBIND}:${port}`);
    const falgateMint = await post(port, "/token", headers, '{"app":"fal-ai/echo","type":"falgate"}');
    const falMint = await post(port, "/token", headers, '{"app":"fal-ai/echo","type":"fal"}');
    const intercepted = await post(
      port,
      "",
      { ...headers, "x-fal-target-url": "https://rest.fal.ai/tokens/" },
      '{"allowed_apps":["echo"],"token_expiration":60}',
    );
    for (const a of [falgateMint, falMint, intercepted]) {
      expect(a.status).toBe(403);
      expect(codeOf(a)).toBe("host_not_allowed");
    }
    expect(mock.requests).toHaveLength(0);
  });

  test("the tunnel refuses the upgrade with 403 before anything opens upstream", async () => {
    const port = await falgate();
    // A token minted the legitimate way (a page on 127.0.0.1): the host check alone must stop the upgrade.
    const minted = await post(port, "/token", page(`127.0.0.1:${port}`), '{"app":"fal-ai/echo"}');
    expect(minted.status).toBe(200);
    const token = JSON.parse(minted.body.toString()) as string;
    const url = `ws://127.0.0.1:${port}/api/fal/proxy/fal-ai/echo/realtime?fal_jwt_token=${token}`;
    const rebound = `${REBIND}:${port}`;
    const refused = await openSocket(url, { host: rebound, origin: `http://${rebound}` }).then(
      (socket) => {
        socket.close();
        return null;
      },
      (error: { status?: number }) => error,
    );
    expect(refused?.status).toBe(403);
    expect(mock.requests).toHaveLength(0);

    // The same token opens the tunnel from the page's real host.
    const socket = await openSocket(url, { origin: `http://127.0.0.1:${port}` });
    socket.socket.send(JSON.stringify({ prompt: "x" }));
    await socket.next();
    socket.close();
    await socket.closed;
  });

  test.each([
    ["127.0.0.1", (port: number) => `127.0.0.1:${port}`],
    ["localhost", (port: number) => `localhost:${port}`],
    ["[::1]", (port: number) => `[::1]:${port}`],
    ["a *.localhost name", (port: number) => `app.localhost:${port}`],
    ["a private IPv4 literal", (port: number) => `192.168.1.20:${port}`],
  ])("a same-origin page on %s is forwarded", async (_label, host) => {
    const port = await falgate();
    const a = await run(port, host(port));
    expect(a.status).toBe(200);
    expect(mock.requests).toHaveLength(1);
  });

  test("--allowed-hosts adds exact names and .suffix entries; nothing else passes", async () => {
    const port = await falgate("--allowed-hosts", "proxy.example.test,.corp.example.test");
    for (const name of [
      "proxy.example.test",
      "corp.example.test",
      "a.b.corp.example.test",
      "PROXY.example.test.",
    ]) {
      const a = await run(port, `${name}:${port}`);
      expect(a.status, name).toBe(200);
    }
    for (const name of ["evilcorp.example.test", "proxy.example.test.evil", "example.test", REBIND]) {
      const a = await run(port, `${name}:${port}`);
      expect(a.status, name).toBe(403);
      expect(codeOf(a)).toBe("host_not_allowed");
    }
    expect(mock.requests).toHaveLength(4);
  });

  test("--allow-unauthenticated is checked the same way (and FALGATE_ALLOWED_HOSTS=all turns it off)", async () => {
    const port = await falgate("--allow-unauthenticated");
    const refused = await run(port, `${REBIND}:${port}`);
    expect(refused.status).toBe(403);
    expect(codeOf(refused)).toBe("host_not_allowed");
    // A non-browser caller with a rebound name is refused as well.
    const curl = await post(port, "", { host: REBIND, "x-fal-target-url": RUN }, "{}");
    expect(codeOf(curl)).toBe("host_not_allowed");
    expect(mock.requests).toHaveLength(0);

    const open = await falgate("--allow-unauthenticated", "--allowed-hosts", "all");
    expect((await run(open, `${REBIND}:${open}`)).status).toBe(200);
  });

  test("the hosts of --allowed-origins pass, and an allowed cross-origin page passes whatever the host", async () => {
    const port = await falgate("--allowed-origins", "https://app.example.com");
    expect((await run(port, `app.example.com:${port}`)).status).toBe(200);
    // A page on an allowed origin calling cross-origin (a rebound page cannot claim that Origin).
    const cors = await post(
      port,
      "",
      {
        host: `proxy.internal.example:${port}`,
        origin: "https://app.example.com",
        "sec-fetch-site": "cross-site",
        "content-type": "application/json",
        "x-fal-target-url": RUN,
      },
      '{"prompt":"x"}',
    );
    expect(cors.status).toBe(200);
    expect(cors.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(mock.requests).toHaveLength(2);
  });

  test("with --trust-proxy, X-Forwarded-Host must pass too", async () => {
    const port = await falgate("--trust-proxy");
    const a = await run(port, `127.0.0.1:${port}`, { "x-forwarded-host": REBIND });
    expect(a.status).toBe(403);
    expect(codeOf(a)).toBe("host_not_allowed");
    expect((await run(port, `127.0.0.1:${port}`, { "x-forwarded-host": "localhost" })).status).toBe(200);
  });

  test("a bad --allowed-hosts entry stops the command at start-up (exit 2), naming the option", async () => {
    for (const value of ["https://app.example.com", "app.example.com:443", "*.example.com"]) {
      const err: string[] = [];
      const run = await runCli(["--port", "0", "--allowed-hosts", value], {
        env: { FAL_KEY: mock.key },
        stdout: () => {},
        stderr: (text) => err.push(text),
      });
      runs.push(run);
      expect(run.exitCode, value).toBe(2);
      expect(err.join("")).toContain("allowedHosts");
    }
  });

  test("the refused Host is shown printable and cut short", async () => {
    const port = await falgate();
    const hostile = `${"a".repeat(300)}\u00ff.example`;
    const a = await run(port, hostile);
    expect(codeOf(a)).toBe("host_not_allowed");
    const message = messageOf(a);
    expect(message).not.toContain("\u00ff");
    expect(message).not.toContain("a".repeat(101));
    expect(message.length).toBeLessThan(500);
  });
});

describe("with an authorize hook", () => {
  const BEARER = "user-1-secret";
  async function server(options: { allowedHosts?: true | string[] } = {}) {
    const s = await startServer({
      port: 0,
      upstream: mock.url,
      env: { FAL_KEY: mock.key },
      logger: { warn: () => {}, error: () => {} },
      authorize: (request) =>
        request.headers.get("authorization") === `Bearer ${BEARER}` ? { id: "user-1" } : null,
      ...options,
    });
    servers.push(s);
    return Number(new URL(s.url).port);
  }

  test("the host check is off by default: admission rests on the hook, not on the origin", async () => {
    const port = await server();
    const a = await run(port, `api.example.com:${port}`, { authorization: `Bearer ${BEARER}` });
    expect(a.status).toBe(200);
  });

  test("an explicit allowedHosts applies it always", async () => {
    const port = await server({ allowedHosts: ["api.example.com"] });
    const auth = { authorization: `Bearer ${BEARER}` };
    expect((await run(port, `api.example.com:${port}`, auth)).status).toBe(200);
    const refused = await run(port, `${REBIND}:${port}`, auth);
    expect(refused.status).toBe(403);
    expect(codeOf(refused)).toBe("host_not_allowed");
    expect(mock.requests).toHaveLength(1);
  });
});
