// wrk, the HTTP load generator of the throughput and one-connection rows: one thread, keep-alive
// connections, a Lua script for the request (method, body, headers) whose `done` hook prints the summary as
// JSON, so nothing depends on wrk's human-readable output.
import { execFile, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const MARK = "FALGATE_WRK ";

/** The wrk binary, installed with apt-get when missing and we are root; else an error saying what to do. */
export function ensureWrk(log) {
  const found = () => {
    try {
      execFileSync("wrk", ["--version"], { stdio: "ignore" });
      return true;
    } catch (error) {
      // `wrk --version` exits 1 after printing its version: it exists.
      return error?.code !== "ENOENT";
    }
  };
  if (found()) return "wrk";
  if (process.getuid?.() === 0) {
    log?.("wrk is missing: apt-get install wrk…");
    try {
      execFileSync("sh", ["-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk"], {
        stdio: "ignore",
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      });
    } catch {
      // Reported below.
    }
    if (found()) return "wrk";
  }
  throw new Error("wrk is not installed: sudo apt-get install wrk (Debian/Ubuntu) or brew install wrk");
}

/** A Lua long string that cannot be closed by `text`. */
function luaString(text) {
  let level = "";
  while (text.includes(`]${level}]`)) level += "=";
  return `[${level}[${text}]${level}]`;
}

/**
 * Writes a wrk script for one request shape into `dir` and returns its path. With `countNon2xx`, the script
 * also counts the answers that are not 2xx (`non2xx` in the summary: wrk's own `status` error counts only
 * >= 400), at the cost of wrk parsing every answer.
 * @param {{ name: string, method: string, headers?: Record<string, string>, body?: string,
 *           countNon2xx?: boolean }} request
 */
export function writeScript(dir, { name, method, headers = {}, body, countNon2xx = false }) {
  const lines = [`wrk.method = ${luaString(method)}`];
  if (body !== undefined) lines.push(`wrk.body = ${luaString(body)}`);
  for (const [header, value] of Object.entries(headers)) {
    lines.push(`wrk.headers[ ${luaString(header)} ] = ${luaString(value)}`);
  }
  let non2xx = "0";
  if (countNon2xx) {
    // `response` runs in each thread's Lua state; `done` in the main one reads the threads' counters.
    lines.push(
      "local threads = {}",
      "function setup(thread) table.insert(threads, thread) end",
      "non2xx = 0",
      "function response(status, headers, body)",
      "  if status < 200 or status > 299 then non2xx = non2xx + 1 end",
      "end",
      "local function threadNon2xx()",
      "  local n = 0",
      '  for _, thread in ipairs(threads) do n = n + thread:get("non2xx") end',
      "  return n",
      "end",
    );
    non2xx = "threadNon2xx()";
  }
  lines.push(
    "function done(summary, latency, requests)",
    "  local e = summary.errors",
    `  io.write(string.format('${MARK}{"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,` +
      `"write":%d,"status":%d,"timeout":%d,"non2xx":%d,"p50Us":%d,"p99Us":%d,"meanUs":%.1f,"maxUs":%d}\\n',`,
    `    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout, ${non2xx},`,
    "    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))",
    "end",
  );
  const path = join(dir, `${name}.lua`);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

/**
 * Runs wrk against `url` for `seconds` with `connections` keep-alive connections on one thread, pinned by
 * `prefix` (the load cores). Resolves with req/s, bytes per request, latency (ms) and error counts.
 */
export function runWrk({ url, script, connections, seconds, prefix = [] }) {
  const args = [
    ...prefix,
    "wrk",
    "--threads",
    "1",
    "--connections",
    String(connections),
    "--duration",
    `${seconds}s`,
    "--timeout",
    "10s",
    "--latency",
    "--script",
    script,
    url,
  ];
  return new Promise((resolve, reject) => {
    execFile(args[0], args.slice(1), { maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      const line = stdout.split("\n").find((l) => l.startsWith(MARK));
      if (error || !line) {
        reject(new Error(`wrk failed: ${error?.message ?? "no summary"}\n${stdout}${stderr}`.trim()));
        return;
      }
      const s = JSON.parse(line.slice(MARK.length));
      const errors = s.connect + s.read + s.write + s.status + s.timeout;
      resolve({
        requests: s.requests,
        seconds: s.durationUs / 1e6,
        rps: s.requests / (s.durationUs / 1e6),
        bytesPerRequest: s.requests ? s.bytes / s.requests : 0,
        mibps: s.bytes / 1048576 / (s.durationUs / 1e6),
        p50: s.p50Us / 1000,
        p99: s.p99Us / 1000,
        mean: s.meanUs / 1000,
        non2xx: s.non2xx,
        socketErrors: s.connect + s.read + s.write + s.timeout,
        errors,
        errorDetail: errors
          ? `connect ${s.connect}, read ${s.read}, write ${s.write}, status ${s.status}, timeout ${s.timeout}`
          : "",
      });
    });
  });
}
