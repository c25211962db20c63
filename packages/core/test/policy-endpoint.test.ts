import { describe, expect, test } from "vitest";
import { FalgateError } from "../src/errors.js";
import {
  checkWebhook,
  classifyTarget,
  compileEndpointPolicy,
  compileTargetPolicy,
  type FalTarget,
} from "../src/policy/index.js";

const targets = compileTargetPolicy();
const RID = "764cabcf-b745-4b3e-ae38-1200304cf45b";

/** Classifies a raw target the way the handler does: target policy first, then the classifier. */
function fal(raw: string): FalTarget {
  return classifyTarget(targets.parse(raw));
}

const none = { appId: null, endpointId: null, alias: null, requestId: null };

describe("classifyTarget: every URL form of the official clients", () => {
  const table: [string, FalTarget][] = [
    [
      "https://fal.run/fal-ai/flux/dev",
      {
        kind: "run",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux/dev",
        alias: "flux",
        requestId: null,
        action: "run",
      },
    ],
    [
      "https://fal.run/fal-ai/fast-sdxl?prompt=a+cat",
      {
        kind: "run",
        appId: "fal-ai/fast-sdxl",
        endpointId: "fal-ai/fast-sdxl",
        alias: "fast-sdxl",
        requestId: null,
        action: "run",
      },
    ],
    [
      "https://fal.run/fal-ai/fast-sdxl/image-to-image/",
      {
        kind: "run",
        appId: "fal-ai/fast-sdxl",
        endpointId: "fal-ai/fast-sdxl/image-to-image",
        alias: "fast-sdxl",
        requestId: null,
        action: "run",
      },
    ],
    [
      "https://fal.run/fal-ai/flux/dev/stream",
      {
        kind: "stream",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux/dev",
        alias: "flux",
        requestId: null,
        action: "stream",
      },
    ],
    [
      "https://fal.run/fal-ai/flux/stream",
      {
        kind: "stream",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux",
        alias: "flux",
        requestId: null,
        action: "stream",
      },
    ],
    [
      // an app literally named "stream" is run, not streamed
      "https://fal.run/someone/stream",
      {
        kind: "run",
        appId: "someone/stream",
        endpointId: "someone/stream",
        alias: "stream",
        requestId: null,
        action: "run",
      },
    ],
    [
      "https://fal.run/fal-ai/fast-lcm-diffusion/realtime?max_buffering=5",
      {
        kind: "realtime",
        appId: "fal-ai/fast-lcm-diffusion",
        endpointId: "fal-ai/fast-lcm-diffusion",
        alias: "fast-lcm-diffusion",
        requestId: null,
        action: "realtime",
      },
    ],
    [
      "https://fal.run/workflows/me/my-flow/stream",
      {
        kind: "stream",
        appId: "workflows/me/my-flow",
        endpointId: "workflows/me/my-flow",
        alias: "my-flow",
        requestId: null,
        action: "stream",
      },
    ],
    [
      "https://fal.run/comfy/me/wf/sub/path",
      {
        kind: "run",
        appId: "comfy/me/wf",
        endpointId: "comfy/me/wf/sub/path",
        alias: "wf",
        requestId: null,
        action: "run",
      },
    ],
    [
      "https://queue.fal.run/fal-ai/flux/dev?fal_webhook=https%3A%2F%2Fh.example%2Fx",
      {
        kind: "queue-submit",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux/dev",
        alias: "flux",
        requestId: null,
        action: "submit",
      },
    ],
    [
      `https://queue.fal.run/fal-ai/flux/requests/${RID}`,
      {
        kind: "queue-request",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux",
        alias: "flux",
        requestId: RID,
        action: "result",
      },
    ],
    [
      `https://queue.fal.run/fal-ai/flux/requests/${RID}/status?logs=1`,
      {
        kind: "queue-request",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux",
        alias: "flux",
        requestId: RID,
        action: "status",
      },
    ],
    [
      `https://queue.fal.run/fal-ai/flux/requests/${RID}/status/stream?logs=0`,
      {
        kind: "queue-request",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux",
        alias: "flux",
        requestId: RID,
        action: "status-stream",
      },
    ],
    [
      `https://queue.fal.run/fal-ai/flux/requests/${RID}/cancel`,
      {
        kind: "queue-request",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux",
        alias: "flux",
        requestId: RID,
        action: "cancel",
      },
    ],
    [
      `https://queue.fal.run/workflows/me/my-flow/requests/${RID}/status`,
      {
        kind: "queue-request",
        appId: "workflows/me/my-flow",
        endpointId: "workflows/me/my-flow",
        alias: "my-flow",
        requestId: RID,
        action: "status",
      },
    ],
    [
      // fal drops the path in request URLs, so "requests" right after the app is a request URL...
      `https://queue.fal.run/comfy/me/wf/requests/${RID}/`,
      {
        kind: "queue-request",
        appId: "comfy/me/wf",
        endpointId: "comfy/me/wf",
        alias: "wf",
        requestId: RID,
        action: "result",
      },
    ],
    [
      // ...but deeper it is part of the endpoint path
      `https://queue.fal.run/fal-ai/flux/dev/requests/${RID}/status`,
      {
        kind: "queue-submit",
        appId: "fal-ai/flux",
        endpointId: `fal-ai/flux/dev/requests/${RID}/status`,
        alias: "flux",
        requestId: null,
        action: "submit",
      },
    ],
    [
      // unknown request sub-resources are judged by their full path (stricter)
      `https://queue.fal.run/fal-ai/flux/requests/${RID}/logs`,
      {
        kind: "queue-submit",
        appId: "fal-ai/flux",
        endpointId: `fal-ai/flux/requests/${RID}/logs`,
        alias: "flux",
        requestId: null,
        action: "submit",
      },
    ],
    [
      `https://queue.fal.run/fal-ai/flux/requests/${RID}/constructor`,
      {
        kind: "queue-submit",
        appId: "fal-ai/flux",
        endpointId: `fal-ai/flux/requests/${RID}/constructor`,
        alias: "flux",
        requestId: null,
        action: "submit",
      },
    ],
    [
      "https://queue.fal.run/fal-ai/flux/requests",
      {
        kind: "queue-submit",
        appId: "fal-ai/flux",
        endpointId: "fal-ai/flux/requests",
        alias: "flux",
        requestId: null,
        action: "submit",
      },
    ],
    ["https://rest.fal.ai/tokens/", { kind: "token", ...none, action: "token" }],
    ["https://rest.alpha.fal.ai/tokens/", { kind: "token", ...none, action: "token" }],
    [
      "https://rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3",
      { kind: "storage", ...none, action: "upload" },
    ],
    ["https://rest.fal.ai/storage/upload/initiate-multipart", { kind: "storage", ...none, action: "upload" }],
    ["https://rest.alpha.fal.ai/storage/upload/initiate", { kind: "storage", ...none, action: "upload" }],
    // not an app: no owner/app, or an incomplete namespace
    ["https://fal.run/", { kind: "other", ...none, action: null }],
    ["https://fal.run/fal-ai", { kind: "other", ...none, action: null }],
    ["https://fal.run/fal-ai/", { kind: "other", ...none, action: null }],
    ["https://queue.fal.run/workflows/me", { kind: "other", ...none, action: null }],
    [
      "https://fal.run/comfy/me/stream",
      {
        kind: "run",
        appId: "comfy/me/stream",
        endpointId: "comfy/me/stream",
        alias: "stream",
        requestId: null,
        action: "run",
      },
    ],
    ["https://fal.run/123-my-app", { kind: "other", ...none, action: null }],
    ["https://fal.run/tokens/", { kind: "other", ...none, action: null }],
  ];

  test.each(table)("%s", (raw, expected) => {
    expect(fal(raw)).toEqual(expected);
  });

  test("method-agnostic: the classifier never looks at anything but the URL", () => {
    expect(classifyTarget.length).toBe(1);
  });

  test("defence in depth: URLs that bypassed the target policy are not apps", () => {
    for (const raw of [
      "https://fal.run//fal-ai/flux",
      "https://fal.run/fal-ai//flux",
      "https://fal.run/%66al-ai/flux",
      "https://fal.run/fal-ai/*",
      "https://fal.run/*/flux",
      "https://fal.run/.hidden/flux",
      "https://queue.fal.run/workflows//flow/requests/x",
    ]) {
      expect(classifyTarget(new URL(raw)), raw).toEqual({ kind: "other", ...none, action: null });
    }
    expect(classifyTarget(new URL("https://example.com/fal-ai/flux")).kind).toBe("other");
    // token and upload paths on another (explicitly allowed) host are still policed as such
    expect(classifyTarget(new URL("https://rest.fal.dev/tokens/")).kind).toBe("token");
  });
});

type Row = [target: string, allowed: boolean];

describe("endpoint policy: pattern semantics", () => {
  const cases: [patterns: string[], rows: Row[]][] = [
    [
      ["fal-ai/fast-sdxl"], // exactly that endpoint
      [
        ["https://fal.run/fal-ai/fast-sdxl", true],
        ["https://fal.run/fal-ai/fast-sdxl/", true],
        ["https://queue.fal.run/fal-ai/fast-sdxl", true],
        ["https://fal.run/fal-ai/fast-sdxl/stream", true],
        ["https://fal.run/fal-ai/fast-sdxl/realtime", true],
        ["https://fal.run/fal-ai/fast-sdxl/image-to-image", false],
        ["https://fal.run/fal-ai/fast-sdxl/image-to-image/stream", false],
        ["https://fal.run/fal-ai/fast-sdxl-turbo", false],
        ["https://fal.run/fal-ai/fast", false],
        ["https://fal.run/other/fast-sdxl", false],
        ["https://fal.run/FAL-AI/FAST-SDXL", false],
        [`https://queue.fal.run/fal-ai/fast-sdxl/requests/${RID}/status?logs=1`, true],
        [`https://queue.fal.run/fal-ai/fast-sdxl/requests/${RID}/cancel`, true],
        [`https://queue.fal.run/fal-ai/fast-sdxl-turbo/requests/${RID}`, false],
        [`https://queue.fal.run/fal-ai/fast-sdxl/requests/${RID}/logs`, false],
      ],
    ],
    [
      ["fal-ai/flux/*"], // any path below the app, one or more segments
      [
        ["https://fal.run/fal-ai/flux/dev", true],
        ["https://fal.run/fal-ai/flux/dev/image-to-image", true],
        ["https://queue.fal.run/fal-ai/flux/schnell", true],
        ["https://fal.run/fal-ai/flux/dev/stream", true],
        ["https://fal.run/fal-ai/flux", false],
        ["https://fal.run/fal-ai/flux/stream", false],
        ["https://fal.run/fal-ai/flux-pro/dev", false],
        ["https://fal.run/fal-ai/fluxx/dev", false],
        [`https://queue.fal.run/fal-ai/flux/requests/${RID}`, true],
        [`https://queue.fal.run/fal-ai/flux/requests/${RID}/status/stream`, true],
        [`https://queue.fal.run/fal-ai/flux/requests/${RID}/logs`, true],
        [`https://queue.fal.run/fal-ai/flux-pro/requests/${RID}/status`, false],
        [`https://queue.fal.run/fal-ai/other/requests/${RID}/cancel`, false],
      ],
    ],
    [
      ["fal-ai/*"], // any app of the owner
      [
        ["https://fal.run/fal-ai/flux", true],
        ["https://fal.run/fal-ai/flux/dev/image-to-image", true],
        [`https://queue.fal.run/fal-ai/anything/requests/${RID}/status`, true],
        ["https://fal.run/fal-ai-evil/flux", false],
        ["https://fal.run/workflows/fal-ai/flow", false],
        ["https://fal.run/comfy/fal-ai/wf", false],
      ],
    ],
    [
      ["fal-ai/flux/dev"], // an exact sub-path
      [
        ["https://fal.run/fal-ai/flux/dev", true],
        ["https://queue.fal.run/fal-ai/flux/dev", true],
        ["https://fal.run/fal-ai/flux/dev/stream", true],
        ["https://fal.run/fal-ai/flux/schnell", false],
        ["https://fal.run/fal-ai/flux", false],
        ["https://fal.run/fal-ai/flux/dev/image-to-image", false],
        // the request URL names the app only: some endpoint of fal-ai/flux is allowed
        [`https://queue.fal.run/fal-ai/flux/requests/${RID}/status`, true],
        [`https://queue.fal.run/fal-ai/flux-pro/requests/${RID}/status`, false],
      ],
    ],
    [
      ["fal-ai/flux/dev/*"],
      [
        ["https://fal.run/fal-ai/flux/dev/image-to-image", true],
        ["https://fal.run/fal-ai/flux/dev", false],
        [`https://queue.fal.run/fal-ai/flux/requests/${RID}`, true],
      ],
    ],
    [
      ["workflows/me/my-flow"],
      [
        ["https://fal.run/workflows/me/my-flow/stream", true],
        ["https://queue.fal.run/workflows/me/my-flow", true],
        [`https://queue.fal.run/workflows/me/my-flow/requests/${RID}/status`, true],
        ["https://fal.run/workflows/me/other-flow/stream", false],
        ["https://fal.run/workflows/someone/my-flow/stream", false],
        ["https://fal.run/comfy/me/my-flow", false],
        ["https://fal.run/me/my-flow", false],
      ],
    ],
    [
      ["workflows/me/*", "comfy/me/*"],
      [
        ["https://fal.run/workflows/me/a/stream", true],
        ["https://fal.run/workflows/me/b", true],
        ["https://fal.run/comfy/me/wf", true],
        [`https://queue.fal.run/comfy/me/wf/requests/${RID}/cancel`, true],
        ["https://fal.run/workflows/you/a", false],
        ["https://fal.run/me/a", false],
        ["https://fal.run/fal-ai/flux", false],
      ],
    ],
    [
      ["fal-ai/flux/*", "fal-ai/fast-sdxl", "workflows/me/*"],
      [
        ["https://fal.run/fal-ai/flux/dev", true],
        ["https://fal.run/fal-ai/fast-sdxl", true],
        ["https://fal.run/workflows/me/x/stream", true],
        ["https://fal.run/fal-ai/recraft-v3", false],
        // non-app targets: tokens and uploads are not app targets (tokens are policed by alias)
        ["https://rest.fal.ai/tokens/", true],
        ["https://rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3", true],
        // URLs that name no app are refused whenever an allowlist is in force
        ["https://fal.run/", false],
        ["https://fal.run/fal-ai", false],
        ["https://queue.fal.run/workflows/me", false],
      ],
    ],
  ];

  for (const [patterns, rows] of cases) {
    describe(JSON.stringify(patterns), () => {
      const policy = compileEndpointPolicy(patterns);
      test.each(rows)("%s -> %s", (target, allowed) => {
        expect(policy.restricted).toBe(true);
        expect(policy.allows(fal(target))).toBe(allowed);
      });
    });
  }

  test("the same URL gets the same answer whatever the method (the policy has no method input)", () => {
    const policy = compileEndpointPolicy(["fal-ai/flux/*"]);
    expect(policy.allows.length).toBe(2);
    expect(policy.allows(fal("https://fal.run/fal-ai/other"))).toBe(false);
  });
});

describe("endpoint policy: unrestricted, empty and narrowed", () => {
  const open = compileEndpointPolicy();
  const empty = compileEndpointPolicy([]);

  test("no patterns: every app allowed, not restricted", () => {
    expect(open.restricted).toBe(false);
    for (const raw of [
      "https://fal.run/anyone/anything/at/all",
      `https://queue.fal.run/x/y/requests/${RID}/cancel`,
      "https://rest.fal.ai/tokens/",
      // nothing restricts the call, so even unrecognised targets on allowed hosts pass (fal answers 404)
      "https://fal.run/",
      "https://fal.run/fal-ai",
    ]) {
      expect(open.allows(fal(raw)), raw).toBe(true);
    }
  });

  test("[] is restricted and allows no app (fail closed), but tokens and uploads still pass", () => {
    expect(empty.restricted).toBe(true);
    expect(empty.allows(fal("https://fal.run/fal-ai/flux"))).toBe(false);
    expect(empty.allows(fal(`https://queue.fal.run/fal-ai/flux/requests/${RID}`))).toBe(false);
    expect(empty.allows(fal("https://fal.run/"))).toBe(false);
    expect(empty.allows(fal("https://rest.fal.ai/tokens/"))).toBe(true);
    expect(empty.allows(fal("https://rest.fal.ai/storage/upload/initiate"))).toBe(true);
    expect(empty.allowsAlias("flux")).toBe(false);
  });

  const narrowed: [
    config: string[] | undefined,
    principal: string[] | undefined,
    target: string,
    allowed: boolean,
  ][] = [
    // narrowing never widens
    [["fal-ai/flux/*"], ["fal-ai/*"], "https://fal.run/fal-ai/other", false],
    [["fal-ai/flux/*"], ["fal-ai/*"], "https://fal.run/fal-ai/flux/dev", true],
    // it restricts
    [["fal-ai/*"], ["fal-ai/flux/dev"], "https://fal.run/fal-ai/flux/dev", true],
    [["fal-ai/*"], ["fal-ai/flux/dev"], "https://fal.run/fal-ai/flux/schnell", false],
    [["fal-ai/*"], ["fal-ai/flux/dev"], `https://queue.fal.run/fal-ai/flux/requests/${RID}/status`, true],
    [["fal-ai/*"], ["fal-ai/flux/dev"], `https://queue.fal.run/fal-ai/recraft/requests/${RID}/status`, false],
    // on an unrestricted proxy too
    [undefined, ["fal-ai/fast-sdxl"], "https://fal.run/fal-ai/fast-sdxl", true],
    [undefined, ["fal-ai/fast-sdxl"], "https://fal.run/fal-ai/flux/dev", false],
    [undefined, ["fal-ai/fast-sdxl"], "https://fal.run/fal-ai", false],
    [undefined, [], "https://fal.run/fal-ai/fast-sdxl", false],
    [undefined, undefined, "https://fal.run/fal-ai", true],
    // tokens and uploads are not app targets, whatever the narrowing
    [["fal-ai/flux/*"], [], "https://rest.fal.ai/tokens/", true],
    [undefined, [], "https://rest.fal.ai/storage/upload/initiate-multipart", true],
    // principal patterns understand namespaces too
    [["workflows/me/*"], ["workflows/me/a"], "https://fal.run/workflows/me/a/stream", true],
    [["workflows/me/*"], ["workflows/me/a"], "https://fal.run/workflows/me/b/stream", false],
  ];
  test.each(narrowed)("config %j, principal %j: %s -> %s", (config, principal, target, allowed) => {
    expect(compileEndpointPolicy(config).allows(fal(target), principal)).toBe(allowed);
  });

  test("narrowing arrays are compiled once and reused; a bad one is a TypeError naming Principal.endpoints", () => {
    const policy = compileEndpointPolicy(["fal-ai/*"]);
    const endpoints = Object.freeze(["fal-ai/flux/*"]);
    expect(policy.allows(fal("https://fal.run/fal-ai/flux/dev"), endpoints)).toBe(true);
    expect(policy.allows(fal("https://fal.run/fal-ai/flux/dev"), endpoints)).toBe(true);
    expect(() => policy.allows(fal("https://fal.run/fal-ai/flux/dev"), ["fal-ai/**"])).toThrow(
      /`Principal.endpoints`/,
    );
    expect(() => policy.allowsAlias("flux", ["*"])).toThrow(TypeError);
  });
});

describe("endpoint policy: aliases (fal token allowed_apps)", () => {
  const rows: [
    config: string[] | undefined,
    principal: string[] | undefined,
    alias: string,
    allowed: boolean,
  ][] = [
    [["fal-ai/flux/*"], undefined, "flux", true],
    [["fal-ai/flux/dev"], undefined, "flux", true],
    [["fal-ai/flux/*"], undefined, "fast-sdxl", false],
    [["fal-ai/fast-sdxl"], undefined, "fast-sdxl", true],
    [["fal-ai/fast-sdxl"], undefined, "fast", false],
    [["fal-ai/fast-sdxl"], undefined, "FAST-SDXL", false],
    // fal tokens open an alias under every owner: an owner wildcard cannot pin the owner down (issue 13, #3)
    [["fal-ai/*"], undefined, "anything", false],
    [["fal-ai/*"], undefined, "some-other-owners-app", false],
    [["fal-ai/*", "fal-ai/fast-sdxl"], undefined, "fast-sdxl", true],
    [undefined, ["fal-ai/*"], "fast-sdxl", false],
    [["workflows/me/my-flow"], undefined, "my-flow", true],
    [["workflows/me/my-flow"], undefined, "me", false],
    [["workflows/me/*"], undefined, "whatever", false],
    [["comfy/me/wf/*"], undefined, "wf", true],
    [undefined, undefined, "flux", true],
    [undefined, ["fal-ai/flux/*"], "flux", true],
    [undefined, ["fal-ai/flux/*"], "fast-sdxl", false],
    [["fal-ai/*"], ["fal-ai/flux/*"], "recraft", false],
    [["fal-ai/flux/*"], ["fal-ai/*"], "recraft", false],
    [undefined, [], "flux", false],
    // not an alias at all
    [undefined, undefined, "", false],
    [undefined, undefined, "*", false],
    [undefined, undefined, "fal-ai/flux", false],
    [undefined, undefined, "..", false],
    [undefined, undefined, "flux ", false],
    [["fal-ai/*"], undefined, "*", false],
  ];
  test.each(rows)("config %j, principal %j: %j -> %s", (config, principal, alias, allowed) => {
    expect(compileEndpointPolicy(config).allowsAlias(alias, principal)).toBe(allowed);
  });
});

describe("endpoint policy: invalid patterns throw a TypeError naming allowedEndpoints", () => {
  test.each([
    "*",
    "**",
    "fal-ai",
    "fal-ai/",
    "/fal-ai/flux",
    "fal-ai/flux/",
    "fal-ai//flux",
    "*/flux",
    "fal-ai/*/dev",
    "fal-ai/*/*",
    "fal-ai/flux*",
    "fal-ai/fl?x",
    "fal-ai/**",
    "workflows/*",
    "workflows/me",
    "comfy/*/wf",
    "fal-ai/%66lux",
    "fal-ai/./flux",
    "fal-ai/../flux",
    "https://fal.run/fal-ai/flux",
    "fal-ai/flux dev",
    "",
  ])("%j", (pattern) => {
    expect(() => compileEndpointPolicy([pattern])).toThrow(TypeError);
    expect(() => compileEndpointPolicy([pattern])).toThrow(/`allowedEndpoints`/);
  });

  test("non-string entries and non-arrays", () => {
    expect(() => compileEndpointPolicy([42 as unknown as string])).toThrow(/`allowedEndpoints`/);
    expect(() => compileEndpointPolicy("fal-ai/flux" as unknown as string[])).toThrow(/`allowedEndpoints`/);
  });

  test("the message explains the syntax and quotes the bad pattern", () => {
    expect(() => compileEndpointPolicy(["fal-ai/*/dev"])).toThrow(/"fal-ai\/\*\/dev".*fal-ai\/flux\/\*/);
  });
});

describe("checkWebhook: fal_webhook only to configured https origins", () => {
  const hook = (value: string) =>
    new URL(`https://queue.fal.run/fal-ai/flux/dev?fal_webhook=${encodeURIComponent(value)}`);
  const origins = ["https://hooks.example.com", "https://other.example:8443"];
  const rows: [url: URL, origins: string[], refused: RegExp | null][] = [
    [new URL("https://queue.fal.run/fal-ai/flux/dev"), [], null],
    [new URL("https://queue.fal.run/fal-ai/flux/dev?webhook=https://evil.com"), [], null],
    [hook("https://hooks.example.com/fal"), origins, null],
    [hook("https://hooks.example.com/fal?user=1&sig=x#frag"), origins, null],
    [hook("https://HOOKS.example.com/fal"), origins, null],
    [hook("https://other.example:8443/x"), origins, null],
    [hook("https://hooks.example.com"), origins, null],
    [hook("https://hooks.example.com/fal"), [], /no webhookOrigins are configured/],
    [hook("https://evil.com/fal"), origins, /"https:\/\/evil\.com" is not allowed; add it to webhookOrigins/],
    [hook("https://hooks.example.com.evil.com/fal"), origins, /not allowed/],
    [hook("https://evilhooks.example.com/fal"), origins, /not allowed/],
    [hook("https://other.example/x"), origins, /not allowed/],
    [hook("https://hooks.example.com:8443/fal"), origins, /not allowed/],
    [hook("http://hooks.example.com/fal"), [...origins, "http://hooks.example.com"], /https/],
    [hook("//hooks.example.com/fal"), origins, /https/],
    [hook("/fal"), origins, /https/],
    [hook("javascript:alert(1)"), origins, /https/],
    [hook(""), origins, /https/],
    [hook("https://"), origins, /not a valid URL/],
    [hook("https://user:pw@hooks.example.com/fal"), origins, /written plainly/],
    [hook("https://evil.com@hooks.example.com/fal"), origins, /written plainly/],
    [hook("https://hooks.example.com@evil.com/fal"), origins, /written plainly/],
    [hook("https://hooks.example.com\\@evil.com/fal"), origins, /backslash/],
    [hook("https://hooks.example.com:443/fal"), origins, /written plainly/],
    [hook("https://hooks%2eexample.com/fal"), origins, /written plainly/],
    [hook("https://hooks.example.com./fal"), origins, /not allowed/],
    [hook("https://hooks.exampl\u0435.com/fal"), origins, /non-ASCII/],
    [hook("https://hooks.example.com/fal\n"), origins, /control/],
    [hook(" https://hooks.example.com/fal"), origins, /whitespace/],
    [
      new URL(
        "https://queue.fal.run/fal-ai/flux/dev?fal_webhook=https%3A%2F%2Fhooks.example.com%2Fa&fal_webhook=https%3A%2F%2Fevil.com",
      ),
      origins,
      /more than once/,
    ],
    [
      new URL(
        "https://queue.fal.run/fal-ai/flux/dev?fal_webhook=https%3A%2F%2Fhooks.example.com%2Fa&fal_webhook=",
      ),
      origins,
      /more than once/,
    ],
    [new URL("https://fal.run/fal-ai/flux/dev?fal_webhook=https%3A%2F%2Fevil.com"), origins, /not allowed/],
  ];
  // Spellings another parser may read as fal_webhook (issue 13, finding 6): refused whatever the URL, even an allowed one.
  const q = (query: string) => new URL(`https://queue.fal.run/fal-ai/flux/dev?${query}`);
  const good = encodeURIComponent("https://hooks.example.com/fal");
  const evil = encodeURIComponent("https://evil.com/fal");
  const lenient = /reads as fal_webhook/;
  rows.push(
    [q(`a=1;fal_webhook=${evil}`), origins, lenient],
    [q(`;fal_webhook=${evil}`), origins, lenient],
    [q(`fal_webhook=${good};fal_webhook=${evil}`), origins, lenient],
    [q(`fal_webhook[]=${evil}`), origins, lenient],
    [q(`fal_webhook[0]=${evil}`), origins, lenient],
    [q(`fal_webhook[url]=${good}`), origins, lenient],
    [q(`fal_webhook%00=${evil}`), origins, lenient],
    [q(`fal_webhook%00junk=${evil}`), origins, lenient],
    [q(`fal_webhook%5B%5D=${evil}`), origins, lenient],
    [q(`FAL_WEBHOOK=${evil}`), origins, lenient],
    [q(`Fal_Webhook=${good}`), origins, lenient],
    [q(`fal%5Fwebhook=${evil}`), origins, lenient],
    [q(`fal%255Fwebhook=${evil}`), origins, lenient],
    [q(`%66al_webhook=${evil}`), origins, lenient],
    [q(`fal_webhoo%E2%84%AA=${evil}`), origins, lenient],
    [q(`%EF%BD%86al_webhook=${evil}`), origins, lenient],
    [q(`fal_webhook+=${evil}`), origins, lenient],
    [q(`+fal_webhook=${evil}`), origins, lenient],
    [q(`fal_webhook%20=${evil}`), origins, lenient],
    [q(`fal_webhook%09=${evil}`), origins, lenient],
    [q(`fal.webhook=${evil}`), origins, lenient],
    [q(`fal+webhook=${evil}`), origins, lenient],
    [q(`fal[webhook=${evil}`), origins, lenient],
    [q(`fal_webhook=${good};x=1`), origins, null],
    [q(`x=1&fal_webhook=${good}&y=a;b`), origins, null],
    [q(`fal_webhooks=${evil}&my_fal_webhook=${evil}&webhook=${evil}&fal=%00`), origins, null],
    [q(`prompt=${encodeURIComponent("a fal_webhook; here")}`), origins, null],
    [q("fal_webhook"), origins, /empty/],
  );
  test.each(rows)("%s (origins %j)", (url, list, refused) => {
    if (refused === null) {
      expect(() => checkWebhook(url, list)).not.toThrow();
      return;
    }
    let error: unknown;
    try {
      checkWebhook(url, list);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FalgateError);
    expect((error as FalgateError).code).toBe("webhook_not_allowed");
    expect((error as FalgateError).status).toBe(403);
    expect((error as FalgateError).message).toMatch(refused);
  });
});
