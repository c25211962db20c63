// Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per source file.
import { readFileSync } from "node:fs";

const ROOT = new URL("../../", import.meta.url).href;

/** Shortens a script URL: workspace paths relative to the repo, `node:` internals as they are. */
function shortUrl(url) {
  if (!url) return "";
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/(.+)$/.exec(url);
  if (pnpm) return pnpm[1];
  return url.startsWith(ROOT) ? url.slice(ROOT.length) : url;
}

/** Self time of the profile at `file`, grouped by function and by script; `idle` excluded from shares. */
export function summariseProfile(file, top = 15) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map();
  const scripts = new Map();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    if (functionName === "(idle)") continue;
    busyUs += us;
    const where = shortUrl(url);
    const key = `${functionName || "(anonymous)"} ${where ? `${where}:${lineNumber + 1}` : ""}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + us);
    const script = where || functionName;
    scripts.set(script, (scripts.get(script) ?? 0) + us);
  }
  const rank = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / busyUs }));
  return { busyMs: busyUs / 1000, functions: rank(functions), scripts: rank(scripts) };
}

/** Markdown for one summary. */
export function profileMarkdown(title, summary) {
  const table = (rows, head) => [
    `| ${head} | self ms | share of busy time |`,
    "| --- | ---: | ---: |",
    ...rows.map((r) => `| \`${r.name.replaceAll("|", "\\|")}\` | ${r.ms.toFixed(0)} | ${(r.share * 100).toFixed(1)}% |`),
  ];
  return [
    `#### ${title} (busy ${summary.busyMs.toFixed(0)} ms)`,
    "",
    ...table(summary.functions, "function (self time)"),
    "",
    ...table(summary.scripts, "script (self time)"),
  ].join("\n");
}
