import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTokenIssuer } from "@falgate/core";
import { buildPackages, REPO_ROOT } from "@falgate/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket, WebSocketServer } from "ws";

/*
 * fal's realtime side is `wss:`. The Node tunnel opens it with one TLS context shared by every tunnel (a context per
 * connection costs memory per idle tunnel); the built CLI runs against a TLS echo server whose throwaway certificate
 * is trusted only through NODE_EXTRA_CA_CERTS, so both the shared context's trust store and its verification are
 * what is tested.
 */

const CLI = join(REPO_ROOT, "packages/node/dist/cli.js");
const SECRET = "tunnel-tls-test-secret-of-at-least-32-bytes";
const KEY = "tls-test-key:secret";
const APP = "fal-ai/echo/realtime";

let dir: string;
let certFile: string;
let upstream: Server;
let upstreamOrigin: string;
const authorizations: Array<string | undefined> = [];

beforeAll(async () => {
  await buildPackages(["core", "node"]);
  dir = mkdtempSync(join(tmpdir(), "falgate-tunnel-tls-"));
  certFile = join(dir, "upstream.crt");
  const keyFile = join(dir, "upstream.key");
  execFileSync(
    "openssl",
    [
      ...[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
      ],
      ...["-subj", "/CN=falgate test upstream", "-addext", "subjectAltName=IP:127.0.0.1"],
      ...["-keyout", keyFile, "-out", certFile],
    ],
    { stdio: "ignore" },
  );
  upstream = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  const wss = new WebSocketServer({ server: upstream, perMessageDeflate: false });
  wss.on("connection", (ws, req) => {
    authorizations.push(req.headers.authorization);
    ws.on("message", (data, binary) => ws.send(data, { binary }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  upstreamOrigin = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The built CLI with a TLS upstream; `trust` adds the test certificate through NODE_EXTRA_CA_CERTS. */
async function startCli(
  trust: boolean,
): Promise<{ origin: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [CLI], {
    env: {
      PATH: process.env.PATH,
      FAL_KEY: KEY,
      FALGATE_PORT: "0",
      FALGATE_UPSTREAM: upstreamOrigin,
      FALGATE_TOKEN_SECRET: SECRET,
      FALGATE_ALLOWED_ENDPOINTS: "fal-ai/echo",
      ...(trust ? { NODE_EXTRA_CA_CERTS: certFile } : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    let out = "";
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`falgate exited (${code}) before listening:\n${out}`)));
  });
  return {
    origin,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function tunnelUrl(origin: string): Promise<string> {
  const issuer = createTokenIssuer({ secret: SECRET });
  const { token } = await issuer.issue({ subject: "tls-user", apps: [APP] });
  return `${origin.replace(/^http/, "ws")}/api/fal/proxy/${APP}?fal_jwt_token=${encodeURIComponent(token)}`;
}

describe("the Node tunnel to a wss: upstream (built CLI)", () => {
  test("trusted through NODE_EXTRA_CA_CERTS: several tunnels share the TLS context and relay frames", async () => {
    const cli = await startCli(true);
    try {
      const before = authorizations.length;
      const echoes = await Promise.all(
        [0, 1, 2].map(async (i) => {
          const ws = new WebSocket(await tunnelUrl(cli.origin), { perMessageDeflate: false });
          await new Promise<void>((resolve, reject) => {
            ws.once("open", resolve);
            ws.once("error", reject);
          });
          const echo = new Promise<string>((resolve) => ws.once("message", (data) => resolve(String(data))));
          ws.send(`frame ${i}`);
          const text = await echo;
          ws.close();
          return text;
        }),
      );
      expect(echoes).toEqual(["frame 0", "frame 1", "frame 2"]);
      expect(authorizations.slice(before)).toEqual([`Key ${KEY}`, `Key ${KEY}`, `Key ${KEY}`]);
    } finally {
      await cli.stop();
    }
  });

  test("an untrusted certificate is still refused: the tunnel closes with 1014 (bad gateway) without reaching fal", async () => {
    const cli = await startCli(false);
    try {
      const before = authorizations.length;
      const ws = new WebSocket(await tunnelUrl(cli.origin), { perMessageDeflate: false });
      const frames: string[] = [];
      ws.on("message", (data) => frames.push(String(data)));
      const closed = await new Promise<{ code: number; reason: string }>((resolve) =>
        ws.once("close", (code, reason) => resolve({ code, reason: String(reason) })),
      );
      expect(closed.code).toBe(1014);
      expect(`${frames.join("")} ${closed.reason}`).toMatch(/unreachable/);
      expect(authorizations.length).toBe(before);
    } finally {
      await cli.stop();
    }
  });
});
