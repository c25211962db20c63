// Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per source file.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

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

/** Markdown for one profile: layers, then the top functions and scripts by self time. */
export function profileMarkdown(title, file) {
  const summary = summariseProfile(file);
  const table = (rows, head) => [
    `| ${head} | self ms | share of busy time |`,
    "| --- | ---: | ---: |",
    ...rows.map(
      (r) => `| \`${r.name.replaceAll("|", "\\|")}\` | ${r.ms.toFixed(0)} | ${(r.share * 100).toFixed(1)}% |`,
    ),
  ];
  return [
    `#### ${title} (busy ${summary.busyMs.toFixed(0)} ms)`,
    "",
    ...table(layersOfProfile(file), "layer (self time)"),
    "",
    ...table(summary.functions, "function (self time)"),
    "",
    ...table(summary.scripts, "script (self time)"),
  ].join("\n");
}

/** Layers the proxy's time is attributed to (first match wins), to read a profile at a glance. */
const LAYERS = [
  ["falgate (packages/*)", (url) => url.includes("/packages/")],
  [
    "Web streams (ReadableStream/TransformStream, transferable setup)",
    (url, fn) =>
      url.includes("node:internal/webstreams") || url.includes("js_transferable") || fn === "JSTransferable",
  ],
  [
    "Web Request/Response/Headers/fetch (Node's bundled undici)",
    (url) => url.includes("node:internal/deps/undici"),
  ],
  ["AbortController/EventTarget", (url) => url.includes("abort_controller") || url.includes("event_target")],
  ["@fal-ai/server-proxy", (url) => url.includes("/@fal-ai/server-proxy/")],
  [
    "framework (Express, Fastify, Hono, Next, http-proxy)",
    (url) =>
      /\/node_modules\/(express|router|body-parser|fastify|@fastify|hono|@hono|next|http-proxy|http-proxy-middleware)\//.test(
        url,
      ),
  ],
  ["undici client (npm)", (url) => url.includes("/undici/")],
  ["ws (npm)", (url) => url.includes("/ws/")],
  [
    "Node http/net/streams",
    (url) =>
      /node:(_http|net|internal\/streams|internal\/stream_base|stream|events|internal\/http)/.test(url),
  ],
  [
    "socket syscalls (writev/read/…)",
    (url, fn) => !url && /^(writev|writeBuffer|writeUtf8String|read|close|shutdown)$/.test(fn),
  ],
  ["garbage collector", (_url, fn) => fn === "(garbage collector)"],
  [
    "microtasks/ticks/timers",
    (url, fn) => fn === "runMicrotasks" || url.includes("task_queues") || url.includes("timers"),
  ],
];

/** Self time of the profile at `file` grouped into {@link LAYERS} (idle excluded), largest first. */
export function layersOfProfile(file) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const { functionName: fn, url } = byId.get(profile.samples[i]).callFrame;
    if (fn === "(idle)") continue;
    const us = profile.timeDeltas[i] ?? 0;
    busy += us;
    const layer =
      LAYERS.find(([, test]) => test(url, fn))?.[0] ?? "other (Node internals, program, module loading)";
    totals.set(layer, (totals.get(layer) ?? 0) + us);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / busy }));
}

/** The report section for every process profiled under `dir` (one sub-directory per process). */
export function profilesMarkdown(dir) {
  const summaries = [];
  for (const name of readdirSync(dir).sort()) {
    // The main thread's profile is the biggest one (loader hook threads write tiny ones).
    const files = readdirSync(join(dir, name))
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(dir, name, f))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    if (files[0]) summaries.push(profileMarkdown(`${name} (${files[0]})`, files[0]));
  }
  return `## CPU profiles of the proxy processes\n\nRaw profiles: \`${dir}\` (open in Chrome DevTools).\n\n${summaries.join("\n\n")}`;
}
