// Every relative link of docs/**, README.md and the package READMEs resolves: the file or folder exists, and an
// `#anchor` names a heading of that page.
import { describe, expect, it } from "vitest";
import { brokenLinks } from "./links.js";
import { markdownFiles } from "./snippets.js";

describe("docs links", () => {
  it.each(markdownFiles())("%s", (page) => {
    expect(brokenLinks(page).map((link) => link.message)).toEqual([]);
  });
});
