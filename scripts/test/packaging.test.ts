// The packaging checks as part of `npm test`: what a user installs must be what the repository tests. Each check
// is a script of its own (npm run check:packaging, npm run check:packed); here they run once each, and their
// progress lines are printed with the test output.
import { describe, expect, it } from "vitest";
import { run } from "../lib/packages.mjs";

async function script(name: string) {
  const result = await run(process.execPath, [`scripts/${name}`], {
    check: false,
    timeoutMs: 280_000,
  });
  const output = `${result.stdout}${result.stderr}`.trim();
  console.info(output);
  return { code: result.code, output };
}

describe("packaging", () => {
  it("every public package packs clean: the project's rules, publint, attw (esm-only)", async () => {
    const { code, output } = await script("check-packaging.mjs");
    expect(code, output).toBe(0);
  }, 300_000);

  it("the packed tarballs, installed with npm into a fresh app, load, typecheck and proxy", async () => {
    const { code, output } = await script("check-packed.mjs");
    expect(code, output).toBe(0);
  }, 300_000);
});
