// "Every snippet runs as written", as a test: each ```ts / ```tsx / ```js block of docs/**, README.md and the
// package READMEs is typechecked (strict) against the built packages, as the reader would paste it. A block that
// is deliberately partial says so on its fence line (```ts no-check); the list of those is printed.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Block, blocksOf, checkBlocks, markdownFiles, type Problem, ROOT } from "./snippets.js";

const WORK_DIR = join(import.meta.dirname, ".snippets");

const blocks: Block[] = markdownFiles().flatMap((page) =>
  blocksOf(page, readFileSync(join(ROOT, page), "utf8")),
);
const checked = blocks.filter((block) => !block.skip);
let problems: Problem[] = [];

describe("docs snippets", () => {
  beforeAll(() => {
    const missing = ["core", "node", "express", "hono", "next", "cloudflare", "client", "redis", "mock-fal"].filter(
      (pkg) => !existsSync(join(ROOT, "packages", pkg, "dist", "index.d.ts")),
    );
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

  afterAll(() => {
    if (!process.env.KEEP_SNIPPETS) rmSync(WORK_DIR, { recursive: true, force: true });
  });

  it("finds the blocks", () => {
    expect(checked.length).toBeGreaterThan(40);
  });

  it.each(checked.map((block) => [`${block.page}:${block.line}`, block] as const))("%s", (_, block) => {
    const mine = problems.filter((problem) => problem.block === block).map((problem) => problem.message);
    if (mine.length > 0) throw new Error(`this block does not typecheck:\n${mine.join("\n")}`);
  });
});
