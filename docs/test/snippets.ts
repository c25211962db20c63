// Finds the code blocks of the docs and READMEs and typechecks them the way a reader would use them.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** The repository root (this file is `docs/test/snippets.ts`). */
export const ROOT = resolve(import.meta.dirname, "../..");

/** What a block is checked against. */
export type Profile = "node" | "next" | "workers";

/** One fenced code block. */
export interface Block {
  /** Markdown file, relative to the repository root. */
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: "ts" | "tsx" | "js";
  code: string;
  /** `no-check` on the fence line: the block is listed but not compiled. */
  skip: boolean;
  /** `file=path` on the fence line: the block is that file of the page's project (other blocks may import it). */
  file: string | null;
  profile: Profile;
}

/** One problem in one block, located in the Markdown file. */
export interface Problem {
  block: Block;
  /** `docs/x.md:12:5 TS2304 Cannot find name 'y'.` */
  message: string;
}

const LANGS: Record<string, Block["lang"]> = {
  ts: "ts",
  typescript: "ts",
  tsx: "tsx",
  js: "js",
  javascript: "js",
  mjs: "js",
};

/** The Markdown files whose code blocks are checked: `docs/**`, the root README and the package READMEs. */
export function markdownFiles(): string[] {
  const files = ["README.md"];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory() && entry.name !== "node_modules" && !entry.name.startsWith(".")) walk(path);
      else if (entry.isFile() && entry.name.endsWith(".md")) files.push(path);
    }
  };
  walk("docs");
  for (const pkg of readdirSync(join(ROOT, "packages"))) {
    try {
      readFileSync(join(ROOT, "packages", pkg, "README.md"));
      files.push(`packages/${pkg}/README.md`);
    } catch {
      // no README
    }
  }
  return files.sort();
}

/**
 * The TypeScript and JavaScript blocks of a Markdown file. The fence's info string is the language, then optional
 * words: `no-check` (opt out), `file=path` (name the file), `workers`/`next`/`node` (force a profile; otherwise a
 * block importing `@falgate/cloudflare` is checked as Workers code, one importing `next` or `@falgate/next` as a
 * Next.js app, everything else as Node).
 */
export function blocksOf(page: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang = "", rest = ""] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trimStart().startsWith(fence!)) {
      body.push(lines[j]!.startsWith(indent!) ? lines[j]!.slice(indent!.length) : lines[j]!);
      j++;
    }
    const kind = LANGS[lang.toLowerCase()];
    if (kind) {
      const words = rest.trim().split(/\s+/).filter(Boolean);
      const code = body.join("\n");
      const file = words.find((w) => w.startsWith("file="))?.slice(5) ?? null;
      const forced = words.find((w): w is Profile => w === "node" || w === "next" || w === "workers");
      blocks.push({
        page,
        line: i + 1,
        lang: kind,
        code,
        skip: words.includes("no-check"),
        file,
        profile: forced ?? detectProfile(code),
      });
    }
    i = j;
  }
  return blocks;
}

function detectProfile(code: string): Profile {
  if (/from\s+["']@falgate\/cloudflare["']/.test(code)) return "workers";
  if (/from\s+["'](next|next\/[\w/.-]+|@falgate\/next(\/pages)?)["']/.test(code)) return "next";
  return "node";
}

const BASE: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  strict: true,
  skipLibCheck: true,
  noEmit: true,
  esModuleInterop: true,
  allowJs: true,
  checkJs: true,
  resolveJsonModule: true,
  moduleDetection: ts.ModuleDetectionKind.Force,
  forceConsistentCasingInFileNames: true,
};

/** Compiler options per profile: what an app of that kind typically has. */
function optionsFor(profile: Profile, dir: string): ts.CompilerOptions {
  switch (profile) {
    case "node":
      return {
        ...BASE,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
        types: ["node"],
      };
    case "next":
      // What `create-next-app` writes: bundler resolution and the `@/*` alias for the project root.
      return {
        ...BASE,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        jsx: ts.JsxEmit.Preserve,
        lib: ["lib.esnext.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
        types: ["node"],
        baseUrl: dir,
        paths: { "@/*": ["./*"] },
      };
    case "workers":
      // A Worker project: the runtime's own globals, no DOM and no Node.
      return {
        ...BASE,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ["lib.es2022.d.ts"],
        types: ["@cloudflare/workers-types"],
      };
  }
}

/** Library files are the same for every program: parse them once. */
const libraryFiles = new Map<string, ts.SourceFile | undefined>();

function hostFor(options: ts.CompilerOptions, dir: string): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  // `types` entries resolve from the project, as they would from its tsconfig.json.
  host.getCurrentDirectory = () => dir;
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, language, onError, fresh) => {
    if (!fileName.includes("/node_modules/")) return read(fileName, language, onError, fresh);
    const key = `${fileName}\0${typeof language === "object" ? language.impliedNodeFormat : ""}`;
    if (!libraryFiles.has(key)) libraryFiles.set(key, read(fileName, language, onError, fresh));
    return libraryFiles.get(key);
  };
  return host;
}

function slug(page: string): string {
  return page.replace(/\.md$/, "").replace(/[^\w]+/g, "-");
}

/**
 * Writes every checked block into a project below `workDir` (one folder per page, so a page's blocks can import
 * each other by their `file=` names) and typechecks it: one program per page and profile. Returns the problems
 * found, located in the Markdown files.
 */
export function checkBlocks(blocks: readonly Block[], workDir: string): Problem[] {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, "package.json"), '{ "type": "module" }\n');
  const byFile = new Map<string, Block>();
  const groups = new Map<string, { profile: Profile; dir: string; files: string[] }>();
  for (const block of blocks) {
    if (block.skip) continue;
    const dir = join(workDir, slug(block.page));
    const name = block.file ?? `block-${block.line}.${block.lang}`;
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${block.code}\n`);
    byFile.set(path, block);
    const key = `${block.page}\0${block.profile}`;
    const group = groups.get(key) ?? { profile: block.profile, dir, files: [] };
    group.files.push(path);
    groups.set(key, group);
  }

  const problems: Problem[] = [];
  for (const { profile, dir, files } of groups.values()) {
    const options = optionsFor(profile, dir);
    const program = ts.createProgram({ rootNames: files, options, host: hostFor(options, dir) });
    for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
      const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
      const block = diagnostic.file ? byFile.get(diagnostic.file.fileName) : undefined;
      if (!diagnostic.file || !block) {
        // A global problem, or one in a file outside the blocks: report it on every block of the group.
        const where = diagnostic.file ? `${relative(ROOT, diagnostic.file.fileName)}: ` : "";
        for (const file of files) {
          const owner = byFile.get(file)!;
          problems.push({
            block: owner,
            message: `${owner.page}:${owner.line} TS${diagnostic.code} ${where}${text}`,
          });
        }
        continue;
      }
      const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      problems.push({
        block,
        message: `${block.page}:${block.line + 1 + line}:${character + 1} TS${diagnostic.code} ${text}`,
      });
    }
  }
  return problems;
}
