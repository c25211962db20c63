// The rows of every table: the references (direct, over TLS, the bare pass-through), the proxies a user would
// otherwise pick, and falgate as it ships (standalone and each Node adapter), plus the limits rows.
import { readFileSync } from "node:fs";
import { LIMITS_WIRED } from "../procs/falgate.mjs";

/** The installed version of one of the bench's dependencies (some packages do not export package.json). */
const version = (name) =>
  JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), "utf8")).version;

/** The row every ratio column divides by, by column. */
export const REFERENCES = {
  passthrough: "passthrough",
  replyFrom: "reply-from",
  hpm: "hpm",
  standalone: "falgate-standalone",
};

const SERVER_PROXY_NO_UPLOADS =
  "forwards `JSON.stringify(req.body)` only: binary bodies cannot pass (fal's clients upload to storage directly)";

/**
 * Every row. `proc` is the child process (bench/procs/<proc>.mjs) with its `config`; rows without one hit the
 * upstream directly. `skip` names workloads a row cannot take part in, with the reason printed in their place.
 * `floor` names the row of the same work in the row's framework without falgate (what the framework alone
 * reaches). `underNext` rows are served by `next start` (bench/next-app, lib/next-app.mjs): their child supervises the
 * Next process, which is the one measured and profiled.
 */
export function allRows() {
  return [
    { id: "direct", label: "direct to the mock (HTTP)", group: "reference", direct: "http" },
    { id: "direct-tls", label: "direct to the mock over TLS", group: "reference", direct: "https" },
    {
      id: "passthrough",
      label: `bare Node pass-through (node:http + undici ${version("undici")} Pool)`,
      group: "reference",
      proc: "passthrough",
    },
    {
      id: "passthrough-express",
      label: `the same pass-through as one Express ${version("express")} middleware`,
      group: "reference",
      proc: "passthrough",
      config: { variant: "express" },
    },
    {
      id: "next-bare",
      label: `bare Next route handler (fetch pass-through), Next ${version("next")} (\`next start\`)`,
      group: "reference",
      proc: "next-bare",
      underNext: true,
    },
    {
      id: "reply-from",
      label: `@fastify/reply-from ${version("@fastify/reply-from")} (Fastify ${version("fastify")})`,
      group: "peer",
      proc: "reply-from",
    },
    {
      id: "hpm",
      label: `http-proxy-middleware ${version("http-proxy-middleware")} (Express ${version("express")})`,
      group: "peer",
      proc: "hpm",
    },
    {
      id: "server-proxy-express",
      label: `@fal-ai/server-proxy ${version("@fal-ai/server-proxy")} (Express ${version("express4")})`,
      group: "peer",
      proc: "server-proxy",
      config: { variant: "express" },
      skip: { upload: SERVER_PROXY_NO_UPLOADS },
    },
    {
      id: "server-proxy-hono",
      label: `@fal-ai/server-proxy ${version("@fal-ai/server-proxy")} (Hono ${version("hono")})`,
      group: "peer",
      proc: "server-proxy",
      config: { variant: "hono" },
      skip: { upload: SERVER_PROXY_NO_UPLOADS },
    },
    {
      id: "falgate-standalone",
      label: "falgate standalone (`startServer`)",
      group: "falgate",
      proc: "falgate",
      config: { variant: "standalone" },
    },
    {
      id: "falgate-express",
      label: `falgate, Express ${version("express")}`,
      group: "adapter",
      proc: "falgate",
      config: { variant: "express" },
      floor: "passthrough-express",
    },
    {
      id: "falgate-hono",
      label: `falgate, Hono ${version("hono")} (@hono/node-server ${version("@hono/node-server")})`,
      group: "adapter",
      proc: "falgate",
      config: { variant: "hono" },
    },
    {
      id: "falgate-next",
      label: `falgate, Next ${version("next")} (\`next start\`)`,
      group: "adapter",
      proc: "falgate",
      config: { variant: "next" },
      underNext: true,
      floor: "next-bare",
    },
    {
      id: "falgate-next-pages",
      label: `falgate, Next ${version("next")} Pages Router (\`next start\`)`,
      group: "adapter",
      proc: "falgate",
      config: { variant: "next", router: "pages" },
      underNext: true,
      floor: "next-bare",
    },
    {
      id: "falgate-limits-memory",
      label: `falgate standalone, limits in memory${LIMITS_WIRED ? "" : " (NOT WIRED: no limits)"}`,
      group: "limits",
      proc: "falgate",
      config: { variant: "standalone", limits: "memory" },
      optional: !LIMITS_WIRED,
    },
    {
      id: "falgate-limits-redis",
      label: `falgate standalone, limits in Redis${LIMITS_WIRED ? "" : " (NOT WIRED: no limits)"}`,
      group: "limits",
      proc: "falgate",
      config: { variant: "standalone", limits: "redis" },
      optional: !LIMITS_WIRED,
      needsRedis: true,
    },
  ];
}

/** `*` in a pattern matches any run of characters. */
function matches(pattern, id) {
  const source = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*");
  return new RegExp(`^${source}$`).test(id);
}

/**
 * Splits an `--only` list into workloads and rows. No workload named: all of them; no row named: every row
 * that is not optional. Throws on a name that is neither.
 */
export function selectFromOnly(only, workloads, rows) {
  const names = only
    ? only
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
  const pickedWorkloads = names.filter((n) => workloads.includes(n));
  const rowPatterns = names.filter((n) => !workloads.includes(n));
  for (const pattern of rowPatterns) {
    if (!rows.some((row) => matches(pattern, row.id))) {
      throw new Error(
        `--only: ${JSON.stringify(pattern)} is neither a workload (${workloads.join(", ")}) nor a row (${rows.map((r) => r.id).join(", ")})`,
      );
    }
  }
  return {
    workloads: pickedWorkloads.length ? pickedWorkloads : workloads,
    rows: rowPatterns.length
      ? rows.filter((row) => rowPatterns.some((p) => matches(p, row.id)))
      : rows.filter((row) => !row.optional),
  };
}
