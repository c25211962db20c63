// What the numbers were measured on.
import { execFileSync } from "node:child_process";
import os from "node:os";

/** Node version, CPU model and count, memory, kernel, date and the git revision. */
export function machineInfo() {
  const cpus = os.cpus();
  let revision = "unknown";
  try {
    const cwd = new URL("../../", import.meta.url);
    revision = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd, encoding: "utf8" }).trim() !== "";
    if (dirty) revision += " (uncommitted changes)";
  } catch {
    // Not a git checkout: the revision stays unknown.
  }
  return {
    node: process.version,
    cpu: cpus[0]?.model?.trim() ?? "unknown",
    cores: cpus.length,
    memoryGiB: (os.totalmem() / 1024 ** 3).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    revision,
  };
}
