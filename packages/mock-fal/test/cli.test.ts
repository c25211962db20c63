import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DEFAULT_KEY } from "../src/index.js";
import { type CliIo, runCli } from "../src/run-cli.js";

function fakeIo() {
  const out: string[] = [];
  const handlers = new Map<string, () => void>();
  let onExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    onExit = resolve;
  });
  const io: CliIo = {
    stdout: (text) => out.push(text),
    onSignal: (signal, handler) => handlers.set(signal, handler),
    exit: (code) => onExit(code),
  };
  return { io, out, handlers, exited };
}

describe("falgate-mock CLI", () => {
  it("starts on the given port/host/key, prints the URL, and shuts down on SIGTERM", async () => {
    const cli = fakeIo();
    const mock = await runCli(
      ["--port", "0", "--host", "127.0.0.1", "--key", "cli-id:cli-secret", "--run-ms", "10"],
      {},
      cli.io,
    );
    expect(mock).toBeDefined();
    expect(mock!.key).toBe("cli-id:cli-secret");
    const printed = cli.out.join("");
    expect(printed).toContain(`falgate-mock listening on ${mock!.url}`);
    expect(printed).not.toContain("cli-secret");
    const health = await fetch(`${mock!.url}/_mock/health`);
    expect(await health.json()).toEqual({ ok: true, url: mock!.url });
    expect([...cli.handlers.keys()].sort()).toEqual(["SIGINT", "SIGTERM"]);
    cli.handlers.get("SIGTERM")!();
    expect(await cli.exited).toBe(0);
    await expect(fetch(`${mock!.url}/_mock/health`)).rejects.toThrow();
  });

  it("prints the default placeholder key, reads FAL_MOCK_* env, and --help", async () => {
    const cli = fakeIo();
    const mock = await runCli([], { FAL_MOCK_PORT: "0" }, cli.io);
    expect(cli.out.join("")).toContain(`Authorization: Key ${DEFAULT_KEY}`);
    cli.handlers.get("SIGINT")!();
    expect(await cli.exited).toBe(0);
    expect(mock!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const help = fakeIo();
    expect(await runCli(["--help"], {}, help.io)).toBeUndefined();
    expect(help.out.join("")).toContain("Usage: falgate-mock");
    await expect(runCli(["--port", "abc"], {}, fakeIo().io)).rejects.toThrow(/--port/);
    await expect(runCli(["--bogus"], {}, fakeIo().io)).rejects.toThrow();
  });

  it("prints the webhook key set URL and takes --webhook-rewrite / --no-webhooks", async () => {
    const cli = fakeIo();
    const mock = await runCli(
      ["--port", "0", "--webhook-rewrite", "https://app.example.com=http://127.0.0.1:9", "--no-webhooks"],
      {},
      cli.io,
    );
    expect(cli.out.join("")).toContain(`webhook keys (jwksUrl): ${mock!.url}/.well-known/jwks.json`);
    expect((await fetch(mock!.jwksUrl)).status).toBe(200);
    cli.handlers.get("SIGINT")!();
    expect(await cli.exited).toBe(0);
    await expect(runCli(["--webhook-rewrite", "nonsense"], {}, fakeIo().io)).rejects.toThrow(
      /--webhook-rewrite/,
    );
  });

  const bin = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
  // The built bin exists after `pnpm build` (the repo's test command builds first).
  it.skipIf(!existsSync(bin))("the built bin runs as a process and exits 0 on SIGINT", async () => {
    const child = spawn(process.execPath, [bin, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: string) => {
        out += chunk;
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match) resolve(match[1]!);
      });
      child.once("exit", () => reject(new Error(`exited early: ${out}`)));
    });
    expect((await fetch(`${url}/_mock/health`)).status).toBe(200);
    child.kill("SIGINT");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  });
});
