#!/usr/bin/env node
// `npm run check:packed`: installs the packages the way a user will, and uses them. Every public package is
// packed (`pnpm pack` rewrites the workspace ranges), the tarballs are installed with plain npm into a fresh app
// in the system's temp directory (outside the repository: no workspace, third-party packages from the registry),
// and then, from that app:
//   1. every entry point is `require()`d from a .cjs file and `import`ed from a .mjs file, with the same exports;
//   2. a TypeScript file importing every entry point typechecks under `node16` and `bundler` resolution, and a
//      .cts `require` of them under `nodenext` (TypeScript itself from the registry);
//   3. the installed `falgate-mock` bin starts, an Express app (CommonJS) on the installed `@falgate/express`
//      makes one proxied call to it, and so does the installed `falgate` CLI.
// The temp directories are removed afterwards (FALGATE_KEEP_PACKED=1 keeps them). Part of `npm test`
// (scripts/test/packaging.test.ts).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import {
  buildPackages,
  entryPoints,
  packPackages,
  publicPackages,
  ROOT,
  run,
  seconds,
  specifier,
} from "./lib/packages.mjs";

/** The third-party packages the app installs next to the tarballs, at the versions the workspace tests with. */
function thirdParty() {
  const pin = (folder, name) => {
    const manifest = JSON.parse(readFileSync(join(ROOT, folder, "package.json"), "utf8"));
    const version = manifest.devDependencies?.[name] ?? manifest.dependencies?.[name];
    if (!version) throw new Error(`${folder}/package.json does not pin ${name}`);
    return `${name}@${version}`;
  };
  return [
    pin("packages/express", "express"),
    pin("packages/express", "@types/express"),
    // @falgate/h3 calls h3's own helpers (a peer every Nuxt or Nitro app has), so loading it needs h3.
    pin("packages/h3", "h3"),
    pin(".", "typescript"),
    pin(".", "@types/node"),
  ];
}

const MOCK_KEY = "packed-check-id:packed-check-secret";
const CALL = {
  method: "POST",
  headers: { "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl", "content-type": "application/json" },
  body: JSON.stringify({ prompt: "a lighthouse at dusk" }),
};

/**
 * The environment of a fresh app: none of the settings an outer `npm run`/`pnpm run` passes down (npm_config_*
 * could point npm at the repository), no NODE_OPTIONS (custom conditions would resolve to the sources).
 */
function appEnv() {
  const keep = new Set(["npm_config_registry", "npm_config_cache", "npm_config_userconfig"]);
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(name) && !keep.has(name.toLowerCase())) continue;
    if (name === "NODE_OPTIONS" || name.startsWith("VITEST")) continue;
    env[name] = value;
  }
  return { ...env, npm_config_update_notifier: "false" };
}

/** @type {Set<import("node:child_process").ChildProcess>} */
const children = new Set();

/** Starts a long-running process of the app and resolves with the first match of `ready` in its stdout. */
function startProcess(label, command, args, { cwd, env, ready }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let output = "";
    const timer = setTimeout(() => fail(new Error("did not start within 20 s")), 20_000);
    const fail = (error) => {
      clearTimeout(timer);
      reject(new Error(`${label}: ${error.message}\n${output}`));
    };
    child.once("error", fail);
    child.once("exit", (code) => fail(new Error(`exited with ${code}`)));
    const read = (chunk) => {
      output += chunk;
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
  });
}

async function stopChildren() {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise((resolvePromise) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolvePromise(undefined);
          child.once("exit", () => resolvePromise(undefined));
          child.kill("SIGTERM");
          setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
        }),
    ),
  );
}

/** One proxied call; the mock answers 401 unless falgate put the key in, so a 200 proves the whole chain. */
async function proxiedCall(label, url) {
  const response = await fetch(url, CALL);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${label}: ${url} answered ${response.status}: ${text}`);
  const body = JSON.parse(text);
  if (!String(body.images?.[0]?.url).includes("/_cdn/"))
    throw new Error(`${label}: unexpected answer ${text}`);
}

/** The app's files: what a user would write to load and typecheck the packages. */
function writeAppFiles(app, packs) {
  const specifiers = packs.flatMap((pack) =>
    entryPoints(pack.packed).map((subpath) => specifier(pack.name, subpath)),
  );
  const list = JSON.stringify(specifiers);
  writeFileSync(
    join(app, "load.cjs"),
    `// Node >= 20.19 / 22.12: require() of an ES module returns its namespace.
const out = {};
for (const specifier of ${list}) out[specifier] = Object.keys(require(specifier)).sort();
console.log(JSON.stringify(out));
`,
  );
  writeFileSync(
    join(app, "load.mjs"),
    `const out = {};
for (const specifier of ${list}) out[specifier] = Object.keys(await import(specifier)).sort();
console.log(JSON.stringify(out));
`,
  );

  // Types: every entry point, plus a canary that fails if an adapter's options lost their types (an unresolved
  // @falgate/core inside its declarations would turn them into `any`).
  const imports = specifiers.map((spec, i) => `import * as entry${i} from "${spec}";`).join("\n");
  const uses = `export const entries = [${specifiers.map((_, i) => `entry${i}`).join(", ")}];`;
  const canary = `
import { createFalgate } from "@falgate/express";
// @ts-expect-error an unknown option is a type error when the options type resolved through @falgate/core
createFalgate({ notAnOption: true });
`;
  writeFileSync(join(app, "entries.mts"), `${imports}\n${canary}\n${uses}\n`);
  writeFileSync(join(app, "entries-bundler.ts"), `${imports}\n${canary}\n${uses}\n`);
  const requires = specifiers.map((spec, i) => `import entry${i} = require("${spec}");`).join("\n");
  writeFileSync(join(app, "entries.cts"), `${requires}\n${uses}\n`);
  const base = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: "ES2022",
    lib: ["ES2022", "DOM"],
    types: ["node"],
  };
  const tsconfig = (name, compilerOptions, files) =>
    writeFileSync(
      join(app, name),
      JSON.stringify({ compilerOptions: { ...base, ...compilerOptions }, files }, null, 2),
    );
  tsconfig("tsconfig.node16.json", { module: "node16", moduleResolution: "node16" }, ["entries.mts"]);
  tsconfig("tsconfig.bundler.json", { module: "esnext", moduleResolution: "bundler" }, [
    "entries-bundler.ts",
  ]);
  tsconfig("tsconfig.cjs.json", { module: "nodenext", moduleResolution: "nodenext" }, ["entries.cts"]);

  writeFileSync(
    join(app, "express-app.cjs"),
    `// An Express app written the CommonJS way, on the installed adapter.
const express = require("express");
const { createFalgate, createFalgateHandler } = require("@falgate/express");

const falgate = createFalgate({
  upstream: process.env.MOCK_URL,
  credentials: process.env.MOCK_KEY,
  authorize: () => ({ id: "packed-check" }),
});
const app = express();
app.use("/api/fal/proxy", createFalgateHandler(falgate));
const server = app.listen(0, "127.0.0.1", () => {
  console.log("express listening on http://127.0.0.1:" + server.address().port);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
`,
  );
}

async function main() {
  const start = performance.now();
  const step = (text) => console.log(`check:packed: ${text} (${seconds(start)})`);
  const packages = publicPackages();
  await buildPackages(packages);
  const work = mkdtempSync(join(tmpdir(), "falgate-packed-"));
  const outside = relative(ROOT, work);
  if (!outside.startsWith("..") && !isAbsolute(outside)) {
    throw new Error(`the temp directory ${work} is inside the repository; set TMPDIR elsewhere`);
  }
  const packsDir = join(work, "packs");
  const app = join(work, "app");
  const env = appEnv();
  try {
    mkdirSync(packsDir);
    mkdirSync(app);
    const packs = await packPackages(packages, packsDir);
    step(`packed ${packs.length} packages`);

    await run("npm", ["init", "-y"], { cwd: app, env });
    const extras = thirdParty();
    await run(
      "npm",
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        "--prefer-offline",
        // Peers (next, astro, fastify, @sveltejs/kit, ...) are each adapter's user's choice; the ones the checks
        // need are installed explicitly below.
        "--legacy-peer-deps",
        ...packs.map((pack) => pack.tarball),
        ...extras,
      ],
      { cwd: app, env },
    );
    step(`installed the tarballs and ${extras.join(", ")} with npm into ${app}`);

    writeAppFiles(app, packs);
    const required = JSON.parse((await run("node", ["load.cjs"], { cwd: app, env })).stdout);
    const imported = JSON.parse((await run("node", ["load.mjs"], { cwd: app, env })).stdout);
    for (const [spec, keys] of Object.entries(imported)) {
      if (keys.length === 0) throw new Error(`import("${spec}") has no exports`);
      if (JSON.stringify(required[spec]) !== JSON.stringify(keys)) {
        throw new Error(`require("${spec}") and import("${spec}") differ: ${required[spec]} vs ${keys}`);
      }
    }
    step(
      `require() from .cjs and import from .mjs: ${Object.keys(imported).length} entry points, same exports`,
    );

    const tsc = join(app, "node_modules/typescript/bin/tsc");
    for (const mode of ["node16", "bundler", "cjs"]) {
      await run("node", [tsc, "-p", `tsconfig.${mode}.json`], { cwd: app, env });
    }
    step("typechecked under node16 and bundler resolution, and a .cts require under nodenext");

    const mockUrl = await startProcess(
      "falgate-mock",
      join(app, "node_modules/.bin/falgate-mock"),
      ["--port", "0"],
      {
        cwd: app,
        env: { ...env, FAL_MOCK_KEY: MOCK_KEY },
        ready: /listening on (http:\/\/\S+)/,
      },
    );
    const expressUrl = await startProcess("express app", "node", ["express-app.cjs"], {
      cwd: app,
      env: { ...env, MOCK_URL: mockUrl, MOCK_KEY },
      ready: /listening on (http:\/\/\S+)/,
    });
    await proxiedCall("express app", `${expressUrl}/api/fal/proxy`);
    step(`installed @falgate/express (required from CommonJS) proxied a call to the installed falgate-mock`);

    const cliUrl = await startProcess(
      "falgate CLI",
      join(app, "node_modules/.bin/falgate"),
      ["--port", "0", "--upstream", mockUrl, "--allow-unauthenticated"],
      { cwd: app, env: { ...env, FAL_KEY: MOCK_KEY }, ready: /proxy listening on (http:\/\/\S+)/ },
    );
    await proxiedCall("falgate CLI", cliUrl);
    step("installed falgate CLI proxied a call to the installed falgate-mock");
    console.log(`check:packed: ok (${seconds(start)})`);
  } finally {
    await stopChildren();
    if (process.env.FALGATE_KEEP_PACKED) console.log(`check:packed: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`check:packed: FAILED: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
});
