import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

test("the core imports nothing from Node and never touches process or Buffer", () => {
  const files = sources(join(__dirname, "../src"));
  expect(files.length).toBeGreaterThan(5);
  for (const file of files) {
    // Code only: doc comments may show how an app passes process.env in.
    const text = readFileSync(file, "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    expect(text, file).not.toMatch(/from\s+["']node:/);
    expect(text, file).not.toMatch(/\bprocess\./);
    expect(text, file).not.toMatch(/\bBuffer\b/);
    expect(text, file).not.toMatch(/\bconsole\.(log|warn|error|info|debug)\(/);
  }
});
