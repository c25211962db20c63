import { describe, expect, it } from "vitest";
import { CLI_HELP } from "../src/cli-args.js";
import { CliError, parseCliArgs } from "../src/index.js";

describe("parseCliArgs", () => {
  it("has safe defaults", () => {
    // Nothing given: the server's own defaults apply (SERVER_DEFAULTS: 127.0.0.1:3000, never all interfaces).
    expect(parseCliArgs([], {})).toEqual({
      kind: "serve",
      options: {},
      log: { format: "pretty", quiet: false },
    });
  });

  it("reads every flag", () => {
    const command = parseCliArgs(
      [
        "-p",
        "8080",
        "--host",
        "0.0.0.0",
        "--path",
        "/fal",
        "--allowed-endpoints",
        "fal-ai/flux/*, fal-ai/fast-sdxl",
        "--allowed-origins=https://app.example.com",
        "--allowed-hosts",
        "proxy.example.com, .corp.example",
        "--webhook-origins",
        "https://hooks.example.com",
        "--allow-unauthenticated",
        "--upstream",
        "http://127.0.0.1:4000",
        "--max-body-size",
        "200mb",
        "--trust-proxy",
        "--shutdown-timeout",
        "2500",
        "--metrics-port",
        "9464",
        "--log-format",
        "json",
        "--quiet",
      ],
      {},
    );
    expect(command).toEqual({
      kind: "serve",
      options: {
        port: 8080,
        host: "0.0.0.0",
        path: "/fal",
        allowedEndpoints: ["fal-ai/flux/*", "fal-ai/fast-sdxl"],
        allowedOrigins: ["https://app.example.com"],
        allowedHosts: ["proxy.example.com", ".corp.example"],
        webhookOrigins: ["https://hooks.example.com"],
        allowUnauthenticated: true,
        upstream: "http://127.0.0.1:4000",
        maxBodySize: 200 * 1024 * 1024,
        trustProxy: true,
        shutdownTimeout: 2500,
        metrics: { port: 9464 },
      },
      log: { format: "json", quiet: true },
    });
  });

  it("reads the environment, and flags win over it", () => {
    const env = {
      PORT: "5000",
      FALGATE_HOST: "::",
      FALGATE_ALLOWED_ENDPOINTS: "fal-ai/flux/*",
      FALGATE_ALLOWED_ORIGINS: "https://a.example,https://b.example",
      FALGATE_ALLOW_UNAUTHENTICATED: "1",
      FALGATE_UPSTREAM: "http://localhost:4000",
      FALGATE_MAX_BODY_SIZE: "1048576",
      FALGATE_TRUST_PROXY: "true",
      FALGATE_METRICS: "1",
      FALGATE_LOG_FORMAT: "json",
      FALGATE_QUIET: "yes",
    };
    expect(parseCliArgs([], env)).toEqual({
      kind: "serve",
      options: {
        port: 5000,
        host: "::",
        allowedEndpoints: ["fal-ai/flux/*"],
        allowedOrigins: ["https://a.example", "https://b.example"],
        allowUnauthenticated: true,
        upstream: "http://localhost:4000",
        maxBodySize: 1048576,
        trustProxy: true,
        metrics: true,
      },
      log: { format: "json", quiet: true },
    });
    const command = parseCliArgs(["--port", "6000"], { ...env, FALGATE_PORT: "7000" });
    expect(command.kind === "serve" && command.options.port).toBe(6000);
    expect(parseCliArgs([], { PORT: "5000", FALGATE_PORT: "7000" })).toMatchObject({
      options: { port: 7000 },
    });
  });

  it("metrics: off by default, on the proxy's port with --metrics, on their own port with --metrics-port", () => {
    const metrics = (argv: string[], env: Record<string, string> = {}) => {
      const command = parseCliArgs(argv, env);
      return command.kind === "serve" ? command.options.metrics : undefined;
    };
    expect(metrics([])).toBeUndefined();
    expect(metrics([], { FALGATE_METRICS: "0" })).toBeUndefined();
    expect(metrics(["--metrics"])).toBe(true);
    expect(metrics(["--metrics-port", "9464"])).toEqual({ port: 9464 });
    expect(metrics(["--metrics"], { FALGATE_METRICS_PORT: "9100" })).toEqual({ port: 9100 });
    expect(metrics(["--metrics-port", "0", "--port", "0"])).toEqual({ port: 0 });
    expect(() => metrics(["--metrics-port", "3000"])).toThrow(/differ/);
    expect(() => metrics(["--port", "8080", "--metrics-port", "8080"])).toThrow(/differ/);
    expect(() => metrics(["--metrics-port", "x"])).toThrow(/--metrics-port/);
  });

  it("allowed hosts: a list, `all` for no host check, from a flag or FALGATE_ALLOWED_HOSTS", () => {
    const hosts = (argv: string[], env: Record<string, string> = {}) => {
      const command = parseCliArgs(argv, env);
      return command.kind === "serve" ? command.options.allowedHosts : undefined;
    };
    expect(hosts([])).toBeUndefined();
    expect(hosts([], { FALGATE_ALLOWED_HOSTS: "a.example,.b.example" })).toEqual(["a.example", ".b.example"]);
    expect(hosts(["--allowed-hosts", "c.example"], { FALGATE_ALLOWED_HOSTS: "a.example" })).toEqual([
      "c.example",
    ]);
    expect(hosts(["--allowed-hosts", "all"])).toBe(true);
    expect(hosts([], { FALGATE_ALLOWED_HOSTS: "all" })).toBe(true);
    expect(() => hosts(["--allowed-hosts", "all,a.example"])).toThrow(/--allowed-hosts/);
  });

  it("log format pretty or json, quiet from a flag or the environment", () => {
    const log = (argv: string[], env: Record<string, string> = {}) => {
      const command = parseCliArgs(argv, env);
      return command.kind === "serve" ? command.log : undefined;
    };
    expect(log([])).toEqual({ format: "pretty", quiet: false });
    expect(log(["-q"])).toEqual({ format: "pretty", quiet: true });
    expect(log(["--log-format", "pretty"], { FALGATE_LOG_FORMAT: "json" })).toEqual({
      format: "pretty",
      quiet: false,
    });
    expect(log([], { FALGATE_QUIET: "0" })?.quiet).toBe(false);
    expect(() => log(["--log-format", "xml"])).toThrow(/--log-format/);
  });

  it("only enables dev mode for an explicit truthy value", () => {
    for (const value of ["0", "false", "", "no"]) {
      const command = parseCliArgs([], { FALGATE_ALLOW_UNAUTHENTICATED: value });
      expect(command.kind === "serve" && command.options.allowUnauthenticated).toBeFalsy();
    }
  });

  it("parses sizes", () => {
    const size = (value: string) => {
      const command = parseCliArgs(["--max-body-size", value], {});
      return command.kind === "serve" ? command.options.maxBodySize : undefined;
    };
    expect(size("512kb")).toBe(512 * 1024);
    expect(size("10MiB")).toBe(10 * 1024 * 1024);
    expect(size("1g")).toBe(1024 ** 3);
    expect(size("0")).toBe(0);
    expect(() => size("lots")).toThrow(CliError);
    expect(() => size("-1")).toThrow(CliError);
  });

  it("refuses the key as a flag, naming the environment variable instead", () => {
    for (const arg of ["--key", "--fal-key=abc", "--key-secret", "--credentials"]) {
      expect(() => parseCliArgs([arg, "x"], {})).toThrow(/FAL_KEY/);
    }
  });

  it("rejects unknown flags, bad ports, paths and upstreams with a CliError", () => {
    expect(() => parseCliArgs(["--prot", "1"], {})).toThrow(CliError);
    expect(() => parseCliArgs(["--port", "http"], {})).toThrow(/--port/);
    expect(() => parseCliArgs(["--port", "70000"], {})).toThrow(/between/);
    expect(() => parseCliArgs(["--path", "api"], {})).toThrow(/--path/);
    expect(() => parseCliArgs(["--upstream", "ftp://x"], {})).toThrow(/--upstream/);
    expect(() => parseCliArgs(["extra"], {})).toThrow(CliError);
  });

  it("answers --help with a text that documents every flag", () => {
    expect(parseCliArgs(["--help"], {})).toEqual({ kind: "help" });
    expect(parseCliArgs(["-h", "--port", "nope"], {})).toEqual({ kind: "help" });
    for (const flag of [
      "--port",
      "--host",
      "--path",
      "--allowed-endpoints",
      "--allowed-origins",
      "--allowed-hosts",
      "FALGATE_ALLOWED_HOSTS",
      "--webhook-origins",
      "--allow-unauthenticated",
      "--upstream",
      "--max-body-size",
      "--trust-proxy",
      "--shutdown-timeout",
      "--metrics",
      "--metrics-port",
      "FALGATE_METRICS_PORT",
      "--log-format",
      "FALGATE_LOG_FORMAT",
      "--quiet",
      "FALGATE_QUIET",
      "FAL_KEY",
    ]) {
      expect(CLI_HELP).toContain(flag);
    }
  });
});
