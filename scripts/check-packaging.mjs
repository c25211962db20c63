#!/usr/bin/env node
// `npm run check:packaging`: every public package is built and packed the way it would be published, then its
// tarball is checked: the project's packaging rules (below), publint, and @arethetypeswrong/cli with the
// `esm-only` profile (the packages are ESM; CommonJS callers use Node's require(esm), see docs/install.md).
// Exits non-zero with one line per problem. Part of `npm test` (scripts/test/packaging.test.ts).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildPackages,
  entryPoints,
  mapLimit,
  packPackages,
  publicPackages,
  ROOT,
  ROOT_MANIFEST,
  run,
  seconds,
} from "./lib/packages.mjs";

const REPOSITORY = "git+https://github.com/falgate/falgate.git";
const DEPENDENCY_FIELDS = ["dependencies", "peerDependencies", "optionalDependencies"];

/**
 * The project's own rules for one packed package; publint and attw check the rest.
 * @param {Awaited<ReturnType<typeof packPackages>>[number]} pack
 * @param {string} familyVersion
 */
function ruleProblems(pack, familyVersion) {
  const { manifest, packed, files, folder } = pack;
  const problems = [];
  const expect = (ok, message) => {
    if (!ok) problems.push(message);
  };
  expect(
    manifest.version === familyVersion,
    `version ${manifest.version}: the @falgate/* family shares one version (${familyVersion}), see .changeset/config.json`,
  );
  expect(manifest.type === "module", `"type" must be "module": the packages are ESM-only`);
  expect(manifest.license === "MIT", `"license" must be "MIT"`);
  expect(typeof manifest.description === "string" && manifest.description.length > 0, `no "description"`);
  expect(
    Array.isArray(manifest.keywords) && manifest.keywords.includes("falgate"),
    `"keywords" must include "falgate"`,
  );
  expect(
    manifest.repository?.url === REPOSITORY && manifest.repository?.directory === folder,
    `"repository" must be { "type": "git", "url": "${REPOSITORY}", "directory": "${folder}" }`,
  );
  expect(
    manifest.engines?.node === ROOT_MANIFEST.engines.node,
    `"engines.node" must be the root's "${ROOT_MANIFEST.engines.node}" (require(esm) unflagged; undici 7)`,
  );
  expect(
    manifest.publishConfig?.access === "public",
    `"publishConfig.access" must be "public" (a scoped package)`,
  );
  expect(manifest.files?.includes("dist"), `"files" must list "dist"`);

  for (const file of ["package.json", "README.md", "LICENSE"]) {
    expect(files.includes(file), `the tarball has no ${file}`);
  }
  const license = readFileSync(join(pack.dir, "LICENSE"), "utf8");
  expect(license === readFileSync(join(ROOT, "LICENSE"), "utf8"), `LICENSE differs from the root LICENSE`);
  const readme = readFileSync(join(pack.dir, "README.md"), "utf8");
  expect(
    new RegExp(`npm install (-D )?${pack.name}\\b`).test(readme),
    `README.md has no \`npm install ${pack.name}\` line`,
  );
  expect(/```(ts|js|tsx)\b/.test(readme), `README.md has no TypeScript or JavaScript example`);
  expect(/\]\([^)]*\/docs\/[^)]*\.md/.test(readme), `README.md links to no page of docs/`);
  expect(
    !files.some((file) => /^(test|tests|__tests__)\//.test(file) || /(^|\/)tsconfig[^/]*\.json$/.test(file)),
    `the tarball ships tests or tsconfig files`,
  );

  for (const field of DEPENDENCY_FIELDS) {
    for (const [dependency, range] of Object.entries(packed[field] ?? {})) {
      expect(
        !String(range).startsWith("workspace:"),
        `${field}.${dependency} is still "${range}" once packed`,
      );
      if (!dependency.startsWith("@falgate/")) {
        // A range, so an app that already has undici, ws or jose in the same major shares one copy with falgate.
        expect(
          !/^\d/.test(String(range)),
          `${field}.${dependency} is pinned to "${range}": third-party dependencies take a caret range`,
        );
        continue;
      }
      if (field === "peerDependencies") {
        expect(
          satisfies(familyVersion, range),
          `peerDependencies.${dependency} "${range}" does not accept the family version ${familyVersion}`,
        );
      } else {
        // Exact: a package is tested with the very same version of its siblings, and they are released together.
        expect(
          range === familyVersion,
          `${field}.${dependency} is "${range}", not the family version ${familyVersion}`,
        );
      }
    }
  }
  for (const subpath of entryPoints(manifest)) {
    const conditions = manifest.exports?.[subpath];
    if (conditions && typeof conditions === "object") {
      expect(Object.keys(conditions)[0] === "types", `exports["${subpath}"]: "types" must come first`);
      expect(!("require" in conditions), `exports["${subpath}"] has "require": the packages are ESM-only`);
    }
  }
  return problems;
}

/** Enough of semver for the family's own peer ranges: `x.y.z`, `^x.y.z`, `>=x.y.z`, `>=x.y.z <a.b.c`. */
function satisfies(version, range) {
  const parse = (text) => text.split(".").map(Number);
  const compare = (a, b) => {
    for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  };
  const v = parse(version);
  return range.split(/\s+/).every((part) => {
    const match = /^(\^|>=|<|)(\d+\.\d+\.\d+)$/.exec(part);
    if (!match) return false;
    const bound = parse(match[2]);
    if (match[1] === ">=") return compare(v, bound) >= 0;
    if (match[1] === "<") return compare(v, bound) < 0;
    if (match[1] === "") return compare(v, bound) === 0;
    // ^0.y.z accepts 0.y.*; ^x.y.z (x > 0) accepts x.*
    const upper = bound[0] > 0 ? [bound[0] + 1, 0, 0] : [0, bound[1] + 1, 0];
    return compare(v, bound) >= 0 && compare(v, upper) < 0;
  });
}

async function lint(pack) {
  const problems = [];
  const publint = await run("publint", ["run", pack.tarball, "--strict"], { check: false });
  if (publint.code !== 0 || !publint.stdout.includes("All good!")) {
    problems.push(`publint:\n${indent(publint.stdout + publint.stderr)}`);
  }
  const attw = await run("attw", [pack.tarball, "--profile", "esm-only", "--format", "table-flipped"], {
    check: false,
  });
  if (attw.code !== 0) problems.push(`attw --profile esm-only:\n${indent(attw.stdout + attw.stderr)}`);
  return problems;
}

function indent(text) {
  return text
    .trim()
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}

async function main() {
  const start = performance.now();
  const packages = publicPackages();
  const familyVersion = packages.find((pkg) => pkg.name === "@falgate/core")?.version ?? packages[0]?.version;
  await buildPackages(packages);
  console.log(`check:packaging: ${packages.length} packages built (${seconds(start)})`);
  const destination = mkdtempSync(join(tmpdir(), "falgate-packs-"));
  try {
    const packs = await packPackages(packages, destination);
    console.log(`check:packaging: packed (${seconds(start)})`);
    const results = await mapLimit(packs, 2, async (pack) => [
      ...ruleProblems(pack, familyVersion),
      ...(await lint(pack)),
    ]);
    let failed = 0;
    packs.forEach((pack, index) => {
      const problems = results[index];
      if (problems.length === 0) {
        console.log(`  ok  ${pack.name}@${pack.version} (${pack.files.length} files)`);
        return;
      }
      failed++;
      console.log(`FAIL  ${pack.name}@${pack.version}`);
      for (const problem of problems) console.log(`      - ${problem}`);
    });
    console.log(
      `check:packaging: ${packs.length - failed} of ${packs.length} packages clean (rules, publint, attw esm-only) in ${seconds(start)}`,
    );
    if (failed > 0) process.exitCode = 1;
  } finally {
    rmSync(destination, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`check:packaging: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
});
