#!/usr/bin/env node
// Publishes the public @falgate/* packages: builds them, runs the packaging checks, packs each one with pnpm (the
// `workspace:` ranges become the family version) and hands every tarball to `npm publish`, dependencies first, so
// what is published is exactly what check:packaging and check:packed tested.
//
//   node scripts/release.mjs --dry-run   `npm run release:dry-run`: `npm publish --dry-run` of every tarball
//   node scripts/release.mjs --publish   the real thing (npm credentials required); see RELEASING.md
//
// Without one of the two flags it refuses to run, so nothing is published by accident.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPackages, packPackages, publicPackages, ROOT, run, seconds } from "./lib/packages.mjs";

/** Dependencies before dependents, so a published package never points at a version not yet on the registry. */
function publishOrder(packages) {
  const names = new Set(packages.map((pkg) => pkg.name));
  const done = new Set();
  const ordered = [];
  const visit = (pkg, path = []) => {
    if (done.has(pkg.name)) return;
    if (path.includes(pkg.name)) throw new Error(`dependency cycle: ${[...path, pkg.name].join(" -> ")}`);
    const { dependencies = {}, peerDependencies = {} } = pkg.manifest;
    for (const name of Object.keys({ ...dependencies, ...peerDependencies })) {
      if (names.has(name))
        visit(
          packages.find((other) => other.name === name),
          [...path, pkg.name],
        );
    }
    done.add(pkg.name);
    ordered.push(pkg);
  };
  for (const pkg of packages) visit(pkg);
  return ordered;
}

async function main() {
  const dryRun = process.argv.includes("--dry-run");
  const publish = process.argv.includes("--publish");
  if (dryRun === publish) {
    console.error(
      "release: pass --dry-run (npm publish --dry-run of every package) or --publish (the real thing)",
    );
    process.exitCode = 2;
    return;
  }
  const start = performance.now();
  const packages = publishOrder(publicPackages());
  const versions = new Set(packages.map((pkg) => pkg.version));
  if (versions.size !== 1)
    throw new Error(`the @falgate/* family must share one version, found ${[...versions]}`);
  const [version] = versions;
  console.log(
    `release: ${packages.length} packages at ${version}${dryRun ? " (dry run: nothing is published)" : ""}`,
  );

  await buildPackages(packages);
  for (const check of ["check-packaging.mjs", "check-packed.mjs"]) {
    await run(process.execPath, [join(ROOT, "scripts", check)], { timeoutMs: 600_000 });
    console.log(`release: ${check} passed (${seconds(start)})`);
  }

  const destination = mkdtempSync(join(tmpdir(), "falgate-release-"));
  try {
    const packs = await packPackages(packages, destination);
    for (const pack of packs) {
      const args = ["publish", pack.tarball, "--access", "public", "--tag", "latest"];
      if (dryRun) args.push("--dry-run");
      const { stdout, stderr } = await run("npm", args, { cwd: destination });
      const summary = `${stdout}${stderr}`
        .split("\n")
        .filter((line) => /package size|unpacked size|total files|Publishing to|^\+ /.test(line))
        .map((line) => line.replace(/^npm notice /, ""))
        .join("; ");
      console.log(`release: ${pack.name}@${pack.version}: ${summary}`);
    }
    console.log(
      `release: ${dryRun ? "dry run of" : "published"} ${packs.length} packages at ${version} (${seconds(start)})`,
    );
    if (publish)
      console.log("release: now tag the release: npm run changeset -- tag && git push --follow-tags");
  } finally {
    rmSync(destination, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`release: FAILED: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
});
