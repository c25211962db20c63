// "Every snippet runs as written", as a test: each ```ts / ```tsx / ```js block of docs/**, README.md and the
// package READMEs is typechecked (strict) against the built packages, as the reader would paste it. A block that
// is deliberately partial says so on its fence line (```ts no-check); the list of those is printed.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { STATUS_BY_CODE } from "@falgate/core";
import { startMockFal } from "@falgate/mock-fal";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Block, blocksOf, checkBlocks, markdownFiles, type Problem, ROOT } from "./snippets.js";

const WORK_DIR = join(import.meta.dirname, ".snippets");

const blocks: Block[] = markdownFiles().flatMap((page) =>
  blocksOf(page, readFileSync(join(ROOT, page), "utf8")),
);
const checked = blocks.filter((block) => !block.skip);
let problems: Problem[] = [];

afterAll(() => {
  if (!process.env.KEEP_SNIPPETS) rmSync(WORK_DIR, { recursive: true, force: true });
});

describe("docs snippets", () => {
  beforeAll(() => {
    const missing = [
      "core",
      "node",
      "express",
      "fastify",
      "hono",
      "next",
      "sveltekit",
      "astro",
      "react-router",
      "h3",
      "cloudflare",
      "client",
      "metrics",
      "redis",
      "mock-fal",
    ].filter((pkg) => !existsSync(join(ROOT, "packages", pkg, "dist", "index.d.ts")));
    if (missing.length > 0) {
      throw new Error(
        `build the packages first (turbo run build --filter=./packages/*): no dist/ in ${missing.join(", ")}`,
      );
    }
    problems = checkBlocks(checked, WORK_DIR);
    const skipped = blocks.filter((block) => block.skip).map((block) => `${block.page}:${block.line}`);
    console.info(
      `docs snippets: ${checked.length} blocks typechecked, ${skipped.length} opted out${
        skipped.length > 0 ? ` (${skipped.join(", ")})` : ""
      }`,
    );
  }, 120_000);

  it("finds the blocks", () => {
    expect(checked.length).toBeGreaterThan(40);
  });

  it.each(checked.map((block) => [`${block.page}:${block.line}`, block] as const))("%s", (_, block) => {
    const mine = problems.filter((problem) => problem.block === block).map((problem) => problem.message);
    if (mine.length > 0) throw new Error(`this block does not typecheck:\n${mine.join("\n")}`);
  });
});

// errors.md promises one section per code, with the status of STATUS_BY_CODE.
describe("docs/errors.md", () => {
  it("has one section per error code, with its status", () => {
    const text = readFileSync(join(ROOT, "docs/errors.md"), "utf8");
    const sections = Object.fromEntries(
      [...text.matchAll(/^## (\w+)\n\n\*\*(\d{3})\.\*\*/gm)].map((m) => [m[1], Number(m[2])]),
    );
    expect(sections).toEqual({ ...STATUS_BY_CODE });
  });
});

// The block a newcomer copies first, run for real: getting-started's Express server in front of mock-fal.
describe("getting started, run as written", () => {
  it("proxies a same-origin browser call to the mock, and refuses a script", async () => {
    const block = blocks.find((b) => b.page === "docs/getting-started.md" && b.code.includes("FAL_MOCK_URL"));
    if (!block) throw new Error("docs/getting-started.md lost its FAL_MOCK_URL server block");
    const dir = join(WORK_DIR, "run");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(WORK_DIR, "package.json"), '{ "type": "module" }\n');
    const js = ts.transpileModule(block.code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(dir, "server.js"), js);

    const mock = await startMockFal();
    const port = await freePort();
    const child = spawn(process.execPath, [join(dir, "server.js")], {
      env: { ...process.env, PORT: String(port), FAL_MOCK_URL: mock.url, FAL_KEY: "" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      const url = `http://127.0.0.1:${port}/api/fal/proxy`;
      const call = (headers: Record<string, string>) =>
        fetch(url, {
          method: "POST",
          headers: {
            "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl",
            "content-type": "application/json",
            ...headers,
          },
          body: JSON.stringify({ prompt: "a lighthouse at dusk" }),
        });
      const deadline = Date.now() + 15_000;
      let response: Response | undefined;
      while (!response) {
        try {
          response = await call({ "sec-fetch-site": "same-origin" });
        } catch {
          // not listening yet
          if (Date.now() > deadline || child.exitCode !== null)
            throw new Error(`server did not start: ${stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      expect(response.status, stderr).toBe(200);
      const body = (await response.json()) as { images: { url: string }[] };
      expect(body.images[0]?.url).toContain("/_cdn/images/");

      const script = await call({});
      expect(script.status).toBe(401);
      expect(((await script.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
    } finally {
      child.kill();
      await mock.close();
    }
  }, 30_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
