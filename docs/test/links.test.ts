// Every relative link of docs/**, README.md and the package READMEs resolves (the file or folder exists, an `#anchor`
// names a heading of that page); docs/README.md lists every page; the configuration reference lists every option.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { brokenLinks } from "./links.js";
import { markdownFiles, ROOT } from "./snippets.js";

describe("docs links", () => {
  it.each(markdownFiles())("%s", (page) => {
    expect(brokenLinks(page).map((link) => link.message)).toEqual([]);
  });

  it("docs/README.md links every page of docs/", () => {
    const index = readFileSync(join(ROOT, "docs/README.md"), "utf8");
    const linked = new Set(
      [...index.matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)].map((m) => `docs/${m[1]}`),
    );
    const pages = markdownFiles().filter(
      (page) => page.startsWith("docs/") && page !== "docs/README.md" && !page.startsWith("docs/test/"),
    );
    expect(pages.filter((page) => !linked.has(page))).toEqual([]);
  });
});

describe("docs/configuration.md", () => {
  it("has a row in its summary for every field of FalgateOptions", () => {
    const file = join(ROOT, "packages/core/src/types.ts");
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.ES2022);
    const options = source.statements.find(
      (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === "FalgateOptions",
    );
    const fields =
      options?.members.flatMap((m) => (m.name && ts.isIdentifier(m.name) ? [m.name.text] : [])) ?? [];
    expect(fields.length).toBeGreaterThan(20);
    const text = readFileSync(join(ROOT, "docs/configuration.md"), "utf8");
    const summary = text.slice(
      text.indexOf("## Summary"),
      text.indexOf("\n## ", text.indexOf("## Summary") + 1),
    );
    const rows = new Set([...summary.matchAll(/^\| \[`(\w+)[.`]/gm)].map((m) => m[1]));
    expect(fields.filter((field) => !rows.has(field))).toEqual([]);
  });
});
