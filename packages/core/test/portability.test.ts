import { readFileSync, readdirSync, statSync } from "node:fs";
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
    const text = readFileSync(file, "utf8");
    expect(text, file).not.toMatch(/from\s+["']node:/);
    expect(text, file).not.toMatch(/\bprocess\./);
    expect(text, file).not.toMatch(/\bBuffer\b/);
    expect(text, file).not.toMatch(/\bconsole\.(log|warn|error|info|debug)\(/);
  }
});
