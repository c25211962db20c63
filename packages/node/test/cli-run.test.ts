import { type MockFal, startMockFal } from "@falgate/mock-fal";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type CliRun, runCli } from "../src/index.js";
import { send } from "./helpers.js";

let mock: MockFal;
const runs: CliRun[] = [];

beforeAll(async () => {
  mock = await startMockFal();
});
afterAll(() => mock.close());
afterEach(async () => {
  for (const run of runs.splice(0)) await run.server?.close();
});

/** Runs the `falgate` command as a terminal would, capturing what it prints. */
async function falgate(argv: string[], env: Record<string, string> = { FAL_KEY: mock.key }) {
  const out: string[] = [];
  const err: string[] = [];
  const run = await runCli(argv, { env, stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  runs.push(run);
  return { run, out, err };
}

const BASE = ["--port", "0", "--allow-unauthenticated"];

async function calls(url: string) {
  const proxy = `${url}/api/fal/proxy`;
  const headers = { "content-type": "application/json" };
  const ok = await send(proxy, {
    method: "POST",
    headers: { ...headers, "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl" },
    body: JSON.stringify({ prompt: "a lighthouse" }),
  });
  expect(ok.status).toBe(200);
  const refused = await send(proxy, {
    method: "POST",
    headers: { ...headers, "x-fal-target-url": "https://example.com/x" },
    body: "{}",
  });
  expect(refused.status).toBe(403);
  const token = await send(`${proxy}/token`, { method: "POST", headers, body: '{"app":"fal-ai/fast-lcm"}' });
  expect(token.status).toBe(200);
  return String(ok.headers["x-fal-request-id"]);
}

describe("the falgate command", () => {
  test("prints its URL, then one aligned line per call", async () => {
    const { run, out, err } = await falgate([...BASE, "--upstream", mock.url]);
    expect(run.exitCode).toBeNull();
    const url = run.server!.url;
    expect(out.join("")).toContain(`INFO  proxy listening on ${url}/api/fal/proxy\n`);
    expect(err.join("")).toMatch(/WARN {2}allowUnauthenticated is on/);
    const before = out.length;
    const requestId = await calls(url);
    const lines = out.slice(before);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      new RegExp(
        `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO {2}POST {4}200 {2}forwarded +fal-ai/fast-sdxl +anonymous +[\\d.]+m?s {2}in 25B {2}out \\d+B {2}req ${requestId}\\n$`,
      ),
    );
    expect(lines[1]).toMatch(/ POST {4}403 {2}refused target_not_allowed +- +anonymous /);
    expect(lines[2]).toMatch(/ POST {4}200 {2}token fal +fal-ai\/fast-lcm +anonymous /);
  });

  test("--log-format json: every line is a JSON object, calls included", async () => {
    const { run, out, err } = await falgate([...BASE, "--upstream", mock.url, "--log-format", "json"]);
    const requestId = await calls(run.server!.url);
    const lines = out
      .join("")
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({
      level: "info",
      msg: `proxy listening on ${run.server!.url}/api/fal/proxy`,
    });
    const entries = lines.filter((line) => line.msg === "call");
    expect(entries).toHaveLength(3);
    expect(entries[0]).toMatchObject({
      decision: "forwarded",
      status: 200,
      principal: "anonymous",
      endpoint: "fal-ai/fast-sdxl",
      method: "POST",
      requestId,
    });
    expect(entries[1]).toMatchObject({ decision: "refused", code: "target_not_allowed", status: 403 });
    expect(entries[2]).toMatchObject({ route: "token", decision: "forwarded", endpoint: "fal-ai/fast-lcm" });
    for (const line of err.join("").trimEnd().split("\n")) expect(JSON.parse(line).level).toBe("warn");
  });

  test("--quiet: no line per call; metrics on their own port", async () => {
    const { run, out } = await falgate([...BASE, "--upstream", mock.url, "--quiet", "--metrics-port", "0"]);
    const metricsUrl = run.server!.metricsUrl!;
    expect(out.join("")).toContain(`metrics at ${metricsUrl}\n`);
    const before = out.length;
    await calls(run.server!.url);
    expect(out.slice(before)).toEqual([]);
    const metrics = await send(metricsUrl);
    expect(metrics.text).toMatch(/^falgate_calls_total\{.*decision="forwarded".*\} 1$/m);
  });

  test("help, bad flags and a missing key", async () => {
    const help = await falgate(["--help"]);
    expect(help.run).toMatchObject({ exitCode: 0, server: null });
    expect(help.out.join("")).toContain("--log-format");
    const bad = await falgate(["--log-format", "xml"]);
    expect(bad.run.exitCode).toBe(2);
    expect(bad.err.join("")).toMatch(/--log-format must be "pretty" or "json"/);
    const keyless = await falgate([...BASE], {});
    expect(keyless.err.join("")).toMatch(/WARN {2}FAL_KEY is not set/);
  });
});
