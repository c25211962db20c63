// Finds the code blocks of the docs and READMEs and typechecks them the way a reader would use them.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** The repository root (this file is `docs/test/snippets.ts`). */
export const ROOT = resolve(import.meta.dirname, "../..");

/**
 * What a block is checked against: a Node program, a Next.js app, a Cloudflare Worker, a SvelteKit or Astro app, a
 * Vite-built server app (Nuxt/Nitro/h3, React Router), a Bun or a Deno program.
 */
export type Profile = "node" | "next" | "workers" | "sveltekit" | "astro" | "bundler" | "bun" | "deno";

const PROFILES: readonly Profile[] = [
  "node",
  "next",
  "workers",
  "sveltekit",
  "astro",
  "bundler",
  "bun",
  "deno",
];

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
 * words: `no-check` (opt out), `file=path` (name the file), a profile name (force it; otherwise the profile follows
 * from what the block uses, see {@link detectProfile}).
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
      const forced = words.find((w): w is Profile => (PROFILES as readonly string[]).includes(w));
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

/** What a block imports: `from "x"`, `import "x"`, `import("x")` (type imports in JSDoc included). */
function importsOf(code: string): string[] {
  return [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map((match) => match[1]!);
}

/**
 * The profile of a block, from what it uses: `Bun.`/`Deno.` globals are Bun and Deno programs; `@falgate/cloudflare`
 * is Workers code; `next`, `@falgate/next` a Next.js app; `@falgate/sveltekit`, `@sveltejs/kit` and `$lib`/`$app`/`$env`
 * a SvelteKit app; `@falgate/astro`, `astro`, `astro:*` and `@astrojs/*` an Astro app; `@falgate/h3`, `h3`,
 * `@falgate/react-router` and `react-router` a Vite-built server app; everything else Node.
 */
function detectProfile(code: string): Profile {
  if (/\bBun\.\w/.test(code)) return "bun";
  if (/\bDeno\.\w/.test(code)) return "deno";
  const imports = importsOf(code);
  const uses = (pattern: RegExp) => imports.some((specifier) => pattern.test(specifier));
  if (uses(/^@falgate\/cloudflare$/)) return "workers";
  if (uses(/^(next(\/.+)?|@falgate\/next(\/pages)?)$/)) return "next";
  if (uses(/^(@falgate\/sveltekit|@sveltejs\/kit(\/.+)?|\$(lib|app|env)(\/.+)?)$/)) return "sveltekit";
  if (uses(/^(@falgate\/astro|astro(\/.+)?|astro:.+|@astrojs\/.+)$/)) return "astro";
  if (uses(/^(@falgate\/h3(\/node)?|h3|@falgate\/react-router|react-router|@react-router\/.+)$/))
    return "bundler";
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
    case "sveltekit":
      // What `sv create` writes (through .svelte-kit/tsconfig.json): bundler resolution and the `$lib` alias.
      return { ...VITE, baseUrl: dir, paths: { $lib: ["./src/lib"], "$lib/*": ["./src/lib/*"] } };
    case "astro":
      // What `astro/tsconfigs/base` sets, with `astro/client` for the `astro:*` modules and `App.Locals`.
      return { ...VITE, types: ["node", "astro/client"] };
    case "bundler":
      // Nuxt/Nitro, React Router: Vite-built server code with bundler resolution.
      return VITE;
    case "bun":
      // What `bun init` writes: Bun's own types (Node's included), no DOM.
      return {
        ...BASE,
        module: ts.ModuleKind.Preserve,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ["lib.esnext.d.ts"],
        types: ["bun"],
      };
    case "deno":
      // Deno's own declarations (`deno types`, added to the program), no DOM and no Node.
      return {
        ...BASE,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ["lib.esnext.d.ts"],
        types: [],
      };
  }
}

/** Vite-based frameworks: bundler resolution, DOM and Node types. */
const VITE: ts.CompilerOptions = {
  ...BASE,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ["lib.esnext.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
  types: ["node"],
};

/**
 * Modules a framework's build writes that snippets import (a custom server next to the build output), declared as
 * the framework's own types describe them. Written into every page's project; compiled only when imported.
 */
const BUILD_OUTPUTS: Readonly<Record<string, string>> = {
  // SvelteKit with adapter-node: `build/handler.js`, a Node request handler (middleware-shaped).
  "build/handler.d.ts": [
    'import type { IncomingMessage, ServerResponse } from "node:http";',
    "export declare function handler(req: IncomingMessage, res: ServerResponse, next?: () => void): void;",
  ].join("\n"),
  // Astro with @astrojs/node: `dist/server/entry.mjs`, whose `handler` is `createExports(...).handler`.
  "dist/server/entry.d.mts": [
    'import type { createExports } from "@astrojs/node/server.js";',
    'export declare const handler: ReturnType<typeof createExports>["handler"];',
  ].join("\n"),
};

let denoTypes: string | undefined;

/** Deno's declarations, from the `deno` binary of the npm package (`deno types`), minus its own `deno.*` libs. */
function denoDeclarations(): string {
  if (denoTypes === undefined) {
    const bin = createRequire(import.meta.url).resolve("deno/bin.cjs");
    const text = execFileSync(process.execPath, [bin, "types"], { encoding: "utf8", maxBuffer: 64 << 20 });
    denoTypes = text.replace(/^\/\/\/ <reference lib="deno\.[^"]*" \/>$/gm, "");
  }
  return denoTypes;
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
  const pages = new Set(blocks.filter((block) => !block.skip).map((block) => block.page));
  for (const page of pages) {
    for (const [name, text] of Object.entries(BUILD_OUTPUTS)) {
      const path = join(workDir, slug(page), name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${text}\n`);
    }
  }
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
    const roots = [...files];
    if (profile === "deno") {
      const declarations = join(dir, "deno.d.ts");
      writeFileSync(declarations, denoDeclarations());
      roots.push(declarations);
    }
    const program = ts.createProgram({ rootNames: roots, options, host: hostFor(options, dir) });
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
