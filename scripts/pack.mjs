#!/usr/bin/env node
// `npm run pack:all [-- <dir>]`: builds every public package and packs it, as it would be published, into <dir>
// (default: packs/ at the repository root), then prints, for each package, the `npm install` line that installs
// it into another app together with the @falgate/* packages it depends on. This is how to use falgate from a
// clone before it is on the registry (docs/install.md).
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildPackages, packPackages, publicPackages, ROOT } from "./lib/packages.mjs";

const destination = resolve(process.argv[2] ?? join(ROOT, "packs"));
mkdirSync(destination, { recursive: true });
// Only this family's tarballs are replaced; anything else in the folder is left alone.
for (const file of readdirSync(destination)) {
  if (/^falgate-.*\.tgz$/.test(file)) rmSync(join(destination, file));
}

const packages = publicPackages();
await buildPackages(packages);
const packs = await packPackages(packages, destination);
const byName = new Map(packs.map((pack) => [pack.name, pack]));

/** The package and every @falgate/* package it needs, as tarball paths (npm would look for them on the registry). */
function closure(pack, seen = new Set()) {
  if (seen.has(pack.name)) return [];
  seen.add(pack.name);
  const { dependencies = {} } = pack.packed;
  const needed = Object.keys(dependencies)
    .map((name) => byName.get(name))
    .filter(Boolean);
  return [pack.tarball, ...needed.flatMap((dependency) => closure(dependency, seen))];
}

console.log(`Packed ${packs.length} packages into ${destination}.\n`);
console.log("In your app, install the one you need with the falgate packages it depends on:\n");
const width = Math.max(...packs.map((pack) => pack.name.length));
/** The @falgate/* peers a package names (e.g. @falgate/node for a `/node` entry point): installed only if used. */
const falgatePeers = (pack) =>
  Object.keys(pack.packed.peerDependencies ?? {}).filter((name) => name.startsWith("@falgate/"));
for (const pack of packs) {
  const peers = falgatePeers(pack);
  const also = peers.length ? `   (optional: ${peers.join(", ")}, with its own line)` : "";
  console.log(`  ${pack.name.padEnd(width)}  npm install ${closure(pack).join(" ")}${also}`);
}
console.log("\nDetails: docs/install.md");
