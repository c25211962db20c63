// Checks the relative links of the docs and READMEs: every linked file or folder exists, and every `#anchor` names a
// heading of the page it points into.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { ROOT } from "./snippets.js";

/** One relative link that does not resolve. */
export interface BrokenLink {
  /** `docs/x.md:12 [text](target): why` */
  message: string;
}

/**
 * The page's lines without fenced code blocks (their lines kept empty, so line numbers hold), and with inline code
 * blanked unless `keepInlineCode` (it may hold brackets and parentheses that are not links).
 */
function prose(text: string, keepInlineCode = false): string[] {
  const lines = text.split("\n");
  let fence: string | null = null;
  return lines.map((line) => {
    const open = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence === null && open) {
      fence = open[1]!;
      return "";
    }
    if (fence !== null) {
      if (line.trimStart().startsWith(fence)) fence = null;
      return "";
    }
    if (keepInlineCode) return line;
    return line.replace(/(`+)(?:(?!\1).)+?\1/g, (code) => " ".repeat(code.length));
  });
}

/**
 * The anchors of a Markdown page as GitHub renders them: each heading's text (inline code, emphasis and link syntax
 * reduced to their text), lower-cased, without punctuation other than `-` and `_`, spaces as `-`; repeats get
 * `-1`, `-2`, ... Explicit `<a id="...">`/`<a name="...">` anchors count too.
 */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(text, true)) {
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/[`*]/g, "")
      .replace(/<[^>]+>/g, "")
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The relative links of a page that point nowhere. */
export function brokenLinks(page: string): BrokenLink[] {
  const text = readFileSync(join(ROOT, page), "utf8");
  const broken: BrokenLink[] = [];
  const lines = prose(text);
  const anchorCache = new Map<string, Set<string>>();
  const anchorsIn = (file: string) => {
    let anchors = anchorCache.get(file);
    if (!anchors) {
      anchors = anchorsOf(readFileSync(join(ROOT, file), "utf8"));
      anchorCache.set(file, anchors);
    }
    return anchors;
  };
  lines.forEach((line, index) => {
    const targets = [
      ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
      ...[...line.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)].map((m) => m[1]!),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) continue; // https:, mailto:, ...
      const hash = target.indexOf("#");
      const path = decodeURIComponent(hash >= 0 ? target.slice(0, hash) : target);
      const anchor = hash >= 0 ? decodeURIComponent(target.slice(hash + 1)) : null;
      const file = path === "" ? page : normalize(join(dirname(page), path));
      const where = `${page}:${index + 1} (${target})`;
      if (relative(ROOT, join(ROOT, file)).startsWith("..")) {
        broken.push({ message: `${where}: points outside the repository` });
        continue;
      }
      if (!existsSync(join(ROOT, file))) {
        broken.push({ message: `${where}: ${file} does not exist` });
        continue;
      }
      if (anchor === null || anchor === "") continue;
      if (!file.endsWith(".md") || statSync(join(ROOT, file)).isDirectory()) {
        broken.push({ message: `${where}: an anchor into ${file}, which is not a Markdown page` });
      } else if (!anchorsIn(file).has(anchor)) {
        broken.push({ message: `${where}: ${file} has no heading #${anchor}` });
      }
    }
  });
  return broken;
}
