import { describe, expect, test } from "vitest";
import { FalgateError, type FalgateErrorCode } from "../src/errors.js";
import { compileTargetPolicy, DEFAULT_TARGETS, MAX_TARGET_LENGTH } from "../src/policy/index.js";
import type { TargetRule } from "../src/types.js";

const policy = compileTargetPolicy();
const RID = "764cabcf-b745-4b3e-ae38-1200304cf45b";

/** The error `parse` throws for `raw`, or fails the test when it returns. */
function refusal(raw: string | null, target = policy): FalgateError {
  try {
    const url = target.parse(raw);
    throw new Error(`expected a refusal, got ${url.href}`);
  } catch (error) {
    if (!(error instanceof FalgateError)) throw error;
    return error;
  }
}

describe("target policy: every target the official clients send passes unchanged (PROTOCOL.md §2)", () => {
  const clientTargets = [
    // fal.run / fal.subscribe sync, POST and GET (input as query, URLSearchParams-encoded)
    "https://fal.run/fal-ai/flux/dev",
    "https://fal.run/fal-ai/fast-sdxl",
    "https://fal.run/fal-ai/fast-sdxl/image-to-image",
    "https://fal.run/fal-ai/fast-sdxl?prompt=a+cat+%26+a+dog&num_images=2&seed=%2D1",
    "https://fal.run/fal-ai/fast-sdxl?prompt=%E2%9C%93+caf%C3%A9&x=%25&y=%2F..%2F",
    "https://fal.run/123/my-app",
    // queue
    "https://queue.fal.run/fal-ai/flux/dev",
    "https://queue.fal.run/fal-ai/flux/dev?fal_webhook=https%3A%2F%2Fhooks.example.com%2Ffal%3Fuser%3D1",
    `https://queue.fal.run/fal-ai/flux/requests/${RID}/status?logs=0`,
    `https://queue.fal.run/fal-ai/flux/requests/${RID}/status?logs=1`,
    `https://queue.fal.run/fal-ai/flux/requests/${RID}/status/stream?logs=0`,
    `https://queue.fal.run/fal-ai/flux/requests/${RID}`,
    `https://queue.fal.run/fal-ai/flux/requests/${RID}/cancel`,
    `https://queue.fal.run/workflows/me/my-flow/requests/${RID}/status?logs=1`,
    "https://queue.fal.run/comfy/me/wf",
    // streams (also workflows)
    "https://fal.run/fal-ai/flux/dev/stream",
    "https://fal.run/workflows/me/my-flow/stream",
    "https://fal.run/comfy/me/wf/stream",
    "https://fal.run/fal-ai/fast-lcm-diffusion/realtime?max_buffering=5",
    // tokens and storage, current and older client
    "https://rest.fal.ai/tokens/",
    "https://rest.alpha.fal.ai/tokens/",
    "https://rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3",
    "https://rest.fal.ai/storage/upload/initiate-multipart?storage_type=fal-cdn-v3",
    "https://rest.alpha.fal.ai/storage/upload/initiate",
    "https://rest.alpha.fal.ai/storage/upload/initiate-multipart?storage_type=fal-cdn-v3",
    // legitimate encodings stay as written
    "https://fal.run/fal-ai/some-app/a%20b/%3F%23",
    "https://fal.run/fal-ai/some-app/caf%C3%A9",
    "https://fal.run/fal-ai/flux/dev/",
    "https://fal.run/fal-ai/flux?",
  ];

  test.each(clientTargets)("%s", (raw) => {
    const url = policy.parse(raw);
    expect(url).toBeInstanceOf(URL);
    // byte-for-byte: what will be fetched is what the client sent
    expect(url.href).toBe(raw);
    // no re-parse drift: serialising and parsing again is a fixed point
    expect(new URL(url.href).href).toBe(url.href);
  });

  test("the query string is kept byte-for-byte, not re-encoded", () => {
    const raw = "https://fal.run/fal-ai/x?a=1&a=2&b=%20+%2B&c&=d&e=%7e";
    expect(policy.parse(raw).search).toBe("?a=1&a=2&b=%20+%2B&c&=d&e=%7e");
  });

  test("parse returns a fresh URL per call (one caller cannot mutate another's target)", () => {
    const a = policy.parse("https://fal.run/fal-ai/flux");
    const b = policy.parse("https://fal.run/fal-ai/flux");
    expect(a).not.toBe(b);
  });
});

describe("target policy: harmless normalisations (documented)", () => {
  test.each([
    // scheme and host are case-insensitive; the URL fetched is the lowercase form
    ["HTTPS://FAL.RUN/fal-ai/flux", "https://fal.run/fal-ai/flux"],
    ["https://Queue.Fal.Run/fal-ai/flux/dev", "https://queue.fal.run/fal-ai/flux/dev"],
    // an explicit default port is the same destination; WHATWG drops it
    ["https://fal.run:443/fal-ai/flux", "https://fal.run/fal-ai/flux"],
    ["https://fal.run:0443/fal-ai/flux", "https://fal.run/fal-ai/flux"],
    ["https://fal.run:/fal-ai/flux", "https://fal.run/fal-ai/flux"],
    // an empty path is "/"
    ["https://fal.run", "https://fal.run/"],
    ["https://fal.run?x=1", "https://fal.run/?x=1"],
    // characters WHATWG escapes in queries are escaped (what any fetch would send)
    ["https://fal.run/fal-ai/x?q=it's\"<>", "https://fal.run/fal-ai/x?q=it%27s%22%3C%3E"],
  ])("%s -> %s", (raw, href) => {
    const url = policy.parse(raw);
    expect(url.href).toBe(href);
    expect(new URL(url.href).href).toBe(href);
  });
});

type Attack = [name: string, raw: string | null, code: FalgateErrorCode, message?: RegExp];

const attacks: Attack[] = [
  // missing
  ["null header", null, "missing_target", /x-fal-target-url/],
  ["empty header", "", "missing_target"],
  // not absolute https
  ["relative path", "/fal-ai/flux", "invalid_target", /absolute https/],
  ["host without scheme", "fal.run/fal-ai/flux", "invalid_target", /absolute https/],
  ["protocol-relative", "//fal.run/fal-ai/flux", "invalid_target", /absolute https/],
  ["http", "http://fal.run/fal-ai/flux", "invalid_target", /Only https/],
  ["HTTP uppercase", "HTTP://fal.run/fal-ai/flux", "invalid_target", /Only https/],
  ["wss", "wss://fal.run/fal-ai/x/realtime", "invalid_target", /Only https/],
  ["ws", "ws://fal.run/fal-ai/x/realtime", "invalid_target", /Only https/],
  ["data", "data:text/plain,hello", "invalid_target", /Only https/],
  ["javascript", "javascript:alert(1)", "invalid_target", /Only https/],
  ["file", "file:///etc/passwd", "invalid_target", /Only https/],
  ["ftp", "ftp://fal.run/x", "invalid_target", /Only https/],
  ["blob", "blob:https://fal.run/x", "invalid_target", /Only https/],
  ["scheme-like host:port", "fal.run:443/fal-ai/flux", "invalid_target", /Only https/],
  ["https without slashes", "https:fal.run/fal-ai/flux", "invalid_target", /https:\/\/host\/path/],
  ["https one slash", "https:/fal.run/fal-ai/flux", "invalid_target", /https:\/\/host\/path/],
  ["https three slashes", "https:///fal.run/fal-ai/flux", "invalid_target", /https:\/\/host\/path/],
  ["https backslashes", "https:\\\\fal.run/fal-ai/flux", "invalid_target", /backslash/],
  ["no host", "https://", "invalid_target", /not a valid URL/],
  ["no host, query", "https://?x=1", "invalid_target", /not a valid URL/],
  ["garbage", "::::", "invalid_target"],
  // userinfo and @ tricks
  ["user:pw@", "https://user:pw@fal.run/fal-ai/flux", "invalid_target", /credentials/],
  ["user@", "https://user@fal.run/fal-ai/flux", "invalid_target", /credentials/],
  ["empty userinfo", "https://:@fal.run/fal-ai/flux", "invalid_target", /credentials/],
  ["evil@fal", "https://evil.com@fal.run/fal-ai/flux", "invalid_target", /credentials/],
  ["fal@evil", "https://fal.run@evil.com/fal-ai/flux", "invalid_target", /credentials/],
  ["fal:443@evil", "https://fal.run:443@evil.com/fal-ai/flux", "invalid_target", /credentials/],
  ["double @", "https://a@b@fal.run/fal-ai/flux", "invalid_target", /credentials/],
  ["encoded @ in host", "https://evil.com%40fal.run/fal-ai/flux", "invalid_target", /percent-encoded/],
  ["encoded # then @", "https://evil.com%23@fal.run/fal-ai/flux", "invalid_target", /credentials/],
  ["fragment then @", "https://evil.com#@fal.run/fal-ai/flux", "invalid_target", /fragment/],
  ["backslash then @", "https://evil.com\\@fal.run/fal-ai/flux", "invalid_target", /backslash/],
  ["backslash in host", "https://fal.run\\.evil.com/fal-ai/flux", "invalid_target", /backslash/],
  ["backslash in path", "https://fal.run/fal-ai\\flux", "invalid_target", /backslash/],
  ["backslash in query", "https://fal.run/fal-ai/flux?x=\\", "invalid_target", /backslash/],
  ["query then @", "https://evil.com?@fal.run/fal-ai/flux", "target_not_allowed", /evil\.com/],
  // suffix and lookalike hosts
  ["suffix host", "https://fal.run.evil.com/fal-ai/flux", "target_not_allowed", /not allowed/],
  ["suffix host, trailing dot", "https://fal.run.evil.com./fal-ai/flux", "target_not_allowed"],
  ["prefix-glued host", "https://evilfal.run/fal-ai/flux", "target_not_allowed"],
  ["dashed lookalike", "https://evil-fal.run/fal-ai/flux", "target_not_allowed"],
  ["subdomain of fal.run", "https://evil.fal.run/fal-ai/flux", "target_not_allowed"],
  ["queue suffix", "https://queue.fal.run.evil.com/fal-ai/flux", "target_not_allowed"],
  ["rest suffix", "https://rest.fal.ai.evil.com/tokens/", "target_not_allowed"],
  ["parent domain", "https://fal.ai/tokens/", "target_not_allowed"],
  ["empty label", "https://fal..run/fal-ai/flux", "target_not_allowed"],
  ["localhost", "https://localhost/fal-ai/flux", "target_not_allowed"],
  ["cloud metadata name", "https://metadata.google.internal/computeMetadata/v1/", "target_not_allowed"],
  ["encoded dot in host", "https://fal.run%2eevil.com/fal-ai/flux", "invalid_target", /percent-encoded/],
  ["encoded host", "https://fal%2erun/fal-ai/flux", "invalid_target", /percent-encoded/],
  ["encoded NUL in host", "https://fal.run%00.evil.com/fal-ai/flux", "invalid_target", /percent-encoded/],
  // trailing dots
  ["trailing dot", "https://fal.run./fal-ai/flux", "target_not_allowed", /dot/],
  ["trailing dot, queue", "https://queue.fal.run./fal-ai/flux", "target_not_allowed", /dot/],
  ["trailing dot, uppercase", "https://FAL.RUN./fal-ai/flux", "target_not_allowed", /dot/],
  ["two trailing dots", "https://fal.run../fal-ai/flux", "target_not_allowed"],
  // IP literals (WHATWG turns decimal/octal/hex forms into dotted IPv4)
  ["IPv4", "https://127.0.0.1/fal-ai/flux", "target_not_allowed", /IP address/],
  ["metadata IPv4", "https://169.254.169.254/latest/meta-data/", "target_not_allowed", /IP address/],
  ["decimal IPv4", "https://2130706433/fal-ai/flux", "target_not_allowed", /IP address/],
  ["hex IPv4", "https://0x7f000001/fal-ai/flux", "target_not_allowed", /IP address/],
  ["hex dotted IPv4", "https://0x7f.0.0.1/fal-ai/flux", "target_not_allowed", /IP address/],
  ["octal IPv4", "https://0177.0.0.1/fal-ai/flux", "target_not_allowed", /IP address/],
  ["short IPv4", "https://127.1/fal-ai/flux", "target_not_allowed", /IP address/],
  ["IPv4 trailing dot", "https://127.0.0.1./fal-ai/flux", "target_not_allowed", /IP address/],
  ["IPv6", "https://[::1]/fal-ai/flux", "target_not_allowed", /IP address/],
  ["IPv4-mapped IPv6", "https://[::ffff:127.0.0.1]/fal-ai/flux", "target_not_allowed", /IP address/],
  ["IPv6 with port", "https://[::1]:443/fal-ai/flux", "target_not_allowed", /IP address/],
  ["five-part numeric host", "https://1.2.3.4.5/fal-ai/flux", "invalid_target", /not a valid URL/],
  // ports other than the default
  ["port 8443", "https://fal.run:8443/fal-ai/flux", "invalid_target", /port 8443/],
  ["port 80", "https://fal.run:80/fal-ai/flux", "invalid_target", /port 80/],
  ["port 0", "https://fal.run:0/fal-ai/flux", "invalid_target", /port 0/],
  ["port 1", "https://fal.run:1/fal-ai/flux", "invalid_target", /port 1/],
  ["port 65535", "https://fal.run:65535/fal-ai/flux", "invalid_target", /port 65535/],
  ["port out of range", "https://fal.run:99999/fal-ai/flux", "invalid_target", /not a valid URL/],
  ["port not numeric", "https://fal.run:443x/fal-ai/flux", "invalid_target", /not a valid URL/],
  ["port before query", "https://fal.run:8080?x=1", "invalid_target", /port 8080/],
  // dot segments, plain and encoded
  ["..", "https://fal.run/fal-ai/flux/../other", "invalid_target", /\.\. segments/],
  [".", "https://fal.run/fal-ai/./flux", "invalid_target", /\.\. segments/],
  ["trailing ..", "https://fal.run/fal-ai/flux/..", "invalid_target", /\.\. segments/],
  ["trailing .", "https://fal.run/fal-ai/flux/.", "invalid_target", /\.\. segments/],
  ["leading ..", "https://fal.run/../fal-ai/flux", "invalid_target", /\.\. segments/],
  ["%2e%2e", "https://fal.run/fal-ai/flux/%2e%2e/other", "invalid_target", /\.\. segments/],
  ["%2E%2E", "https://fal.run/fal-ai/flux/%2E%2E/other", "invalid_target", /\.\. segments/],
  ["%2E.", "https://fal.run/fal-ai/flux/%2E./other", "invalid_target", /\.\. segments/],
  [".%2e", "https://fal.run/fal-ai/flux/.%2e/other", "invalid_target", /\.\. segments/],
  ["%2e", "https://fal.run/fal-ai/%2e/flux", "invalid_target", /\.\. segments/],
  ["..; to rest", "https://rest.fal.ai/tokens/../billing", "invalid_target", /\.\. segments/],
  [
    "escape storage prefix",
    "https://rest.fal.ai/storage/upload/initiate/%2e%2e/%2e%2e/keys",
    "invalid_target",
  ],
  ["encoded dot inside a name", "https://fal.run/fal-ai/flux%2edev", "invalid_target", /encoded dots/],
  ["double-encoded dots", "https://fal.run/fal-ai/flux/%252e%252e/other", "invalid_target", /double percent/],
  // encoded slashes and backslashes
  ["%2f", "https://fal.run/fal-ai%2fflux/dev", "invalid_target", /encoded slashes/],
  ["%2F", "https://fal.run/fal-ai/flux%2F..%2Fother", "invalid_target", /encoded slashes/],
  ["%5c", "https://fal.run/fal-ai/flux%5c..%5cother", "invalid_target", /encoded slashes/],
  ["%5C", "https://fal.run/fal-ai%5Cflux", "invalid_target", /encoded slashes/],
  ["double-encoded slash", "https://fal.run/fal-ai%252fflux", "invalid_target", /double percent/],
  // empty segments
  ["leading //", "https://fal.run//fal-ai/flux", "invalid_target", /empty segments/],
  ["inner //", "https://fal.run/fal-ai//flux", "invalid_target", /empty segments/],
  ["trailing //", "https://fal.run/fal-ai/flux//", "invalid_target", /empty segments/],
  // needless or malformed percent-encoding
  ["encoded letter in owner", "https://fal.run/%66al-ai/flux", "invalid_target", /write it plainly/],
  ["encoded letter in app", "https://fal.run/fal-ai/fl%75x", "invalid_target", /write it plainly/],
  ["encoded tilde", "https://fal.run/fal-ai/flux%7e", "invalid_target", /write it plainly/],
  ["encoded dash", "https://fal.run/fal-ai/fast%2Dsdxl", "invalid_target", /write it plainly/],
  ["dangling %", "https://fal.run/fal-ai/flux%", "invalid_target", /malformed percent/],
  ["% not hex", "https://fal.run/fal-ai/flux%zz", "invalid_target", /malformed percent/],
  ["% one digit", "https://fal.run/fal-ai/flux%2", "invalid_target", /malformed percent/],
  ["encoded NUL in path", "https://fal.run/fal-ai/flux%00", "invalid_target", /control/],
  ["encoded LF in path", "https://fal.run/fal-ai/flux%0a/x", "invalid_target", /control/],
  ["encoded CR in path", "https://fal.run/fal-ai/flux%0D/x", "invalid_target", /control/],
  ["encoded DEL in path", "https://fal.run/fal-ai/flux%7F", "invalid_target", /control/],
  // paths WHATWG would rewrite (raw path != canonical pathname)
  ["braces in path", "https://fal.run/fal-ai/{x}", "invalid_target", /canonical/],
  ["quote in path", 'https://fal.run/fal-ai/a"b', "invalid_target", /canonical/],
  ["angle brackets in path", "https://fal.run/fal-ai/<b>", "invalid_target", /canonical/],
  ["backtick in path", "https://fal.run/fal-ai/`b`", "invalid_target", /canonical/],
  // fragments (refused, not stripped)
  ["fragment", "https://fal.run/fal-ai/flux#frag", "invalid_target", /fragment/],
  ["empty fragment", "https://fal.run/fal-ai/flux#", "invalid_target", /fragment/],
  ["fragment after query", "https://fal.run/fal-ai/flux?x=1#y", "invalid_target", /fragment/],
  // control characters and whitespace (WHATWG would silently drop tabs and newlines)
  ["tab inside host", "https://fa\tl.run/fal-ai/flux", "invalid_target", /position 10/],
  ["LF inside path", "https://fal.run/fal-ai/fl\nux", "invalid_target", /control/],
  ["CR", "https://fal.run/fal-ai/flux\r", "invalid_target", /control/],
  ["NUL", "https://fal.run/fal-ai/flux\0", "invalid_target", /control/],
  ["DEL", "https://fal.run/fal-ai/flux\x7f", "invalid_target", /control/],
  ["ESC in query", "https://fal.run/fal-ai/flux?x=\x1b", "invalid_target", /control/],
  ["leading space", " https://fal.run/fal-ai/flux", "invalid_target", /whitespace/],
  ["trailing space", "https://fal.run/fal-ai/flux ", "invalid_target", /whitespace/],
  ["space in path", "https://fal.run/fal-ai/fl ux", "invalid_target", /whitespace/],
  [
    "two headers joined",
    "https://fal.run/fal-ai/flux, https://evil.com/x",
    "invalid_target",
    /one x-fal-target-url/,
  ],
  // IDN and punycode
  ["IDN with accent", "https://fál.run/fal-ai/flux", "invalid_target", /non-ASCII/],
  ["Cyrillic lookalike", "https://f\u0430l.run/fal-ai/flux", "invalid_target", /xn--/],
  [
    "fullwidth letters (WHATWG maps them to fal.run)",
    "https://\uff46\uff41\uff4c.run/fal-ai/flux",
    "invalid_target",
  ],
  ["ideographic full stop (WHATWG maps it to .)", "https://fal\u3002run/fal-ai/flux", "invalid_target"],
  [
    "punycode of the Cyrillic lookalike",
    "https://xn--fl-7kc.run/fal-ai/flux",
    "target_not_allowed",
    /xn--fl-7kc/,
  ],
  ["punycode host", "https://xn--80ak6aa92e.com/fal-ai/flux", "target_not_allowed"],
  ["invalid punycode", "https://xn--zz.run/fal-ai/flux", "invalid_target", /not a valid URL/],
  ["non-ASCII path", "https://fal.run/fal-ai/flüx", "invalid_target", /non-ASCII/],
  ["non-ASCII query", "https://fal.run/fal-ai/flux?p=ü", "invalid_target", /non-ASCII/],
  // paths outside the rest allowlist
  ["rest root", "https://rest.fal.ai/", "target_not_allowed", /path "\/" is not allowed on rest\.fal\.ai/],
  ["rest no path", "https://rest.fal.ai", "target_not_allowed", /path/],
  ["rest billing", "https://rest.fal.ai/billing/", "target_not_allowed", /path/],
  ["tokens without slash", "https://rest.fal.ai/tokens", "target_not_allowed", /path/],
  ["below tokens", "https://rest.fal.ai/tokens/abc", "target_not_allowed", /path/],
  ["below initiate", "https://rest.fal.ai/storage/upload/initiate/x", "target_not_allowed", /path/],
  [
    "multipart complete",
    "https://rest.fal.ai/storage/upload/initiate-multipart/complete",
    "target_not_allowed",
  ],
  ["initiate lookalike", "https://rest.fal.ai/storage/upload/initiatex", "target_not_allowed"],
  ["uppercase path", "https://rest.fal.ai/TOKENS/", "target_not_allowed"],
  ["alpha keys", "https://rest.alpha.fal.ai/keys", "target_not_allowed"],
  // size
  [
    "overlong",
    `https://fal.run/fal-ai/flux?p=${"a".repeat(MAX_TARGET_LENGTH)}`,
    "invalid_target",
    /at most 8192/,
  ],
];

describe("target policy: attack table (each refused with the exact code, nothing returned)", () => {
  test.each(attacks)("%s", (_name, raw, code, message) => {
    const error = refusal(raw);
    expect(error.code).toBe(code);
    if (message) expect(error.message).toMatch(message);
    // messages are bounded: never more than ~200 characters of the input echoed back
    expect(error.message.length).toBeLessThan(330);
    if (raw && raw.length > 200) expect(error.message).not.toContain(raw.slice(0, 201));
  });

  test("a target of exactly the limit is accepted, one more character is not", () => {
    const base = "https://fal.run/fal-ai/flux?p=";
    const atLimit = base + "a".repeat(MAX_TARGET_LENGTH - base.length);
    expect(policy.parse(atLimit).href).toBe(atLimit);
    expect(refusal(`${atLimit}a`).code).toBe("invalid_target");
  });

  test("every code is a 4xx FalgateError", () => {
    for (const [, raw] of attacks) expect(refusal(raw).status).toBeGreaterThanOrEqual(400);
    expect(refusal("http://fal.run/x").status).toBe(400);
    expect(refusal("https://evil.com/x").status).toBe(403);
    expect(refusal(null).status).toBe(400);
  });
});

describe("target policy: configuration", () => {
  test("DEFAULT_TARGETS is frozen and is what compileTargetPolicy() uses", () => {
    expect(Object.isFrozen(DEFAULT_TARGETS)).toBe(true);
    expect(Object.isFrozen(DEFAULT_TARGETS[2]?.paths)).toBe(true);
    expect(DEFAULT_TARGETS.map((rule) => rule.host)).toEqual([
      "fal.run",
      "queue.fal.run",
      "rest.fal.ai",
      "rest.alpha.fal.ai",
    ]);
    const explicit = compileTargetPolicy(DEFAULT_TARGETS);
    expect(explicit.parse("https://rest.fal.ai/tokens/").href).toBe("https://rest.fal.ai/tokens/");
    expect(() => explicit.parse("https://rest.fal.ai/billing")).toThrow(FalgateError);
  });

  test("custom rules: exact paths, prefixes, merged hosts, case-insensitive host names", () => {
    const custom = compileTargetPolicy([
      { host: "API.example.com", paths: ["/v1/**", "/health"] },
      { host: "api.example.com", paths: ["/v2/jobs/"] },
      { host: "fal.run" },
    ]);
    for (const ok of [
      "https://api.example.com/v1",
      "https://api.example.com/v1/",
      "https://api.example.com/v1/a/b?c=d",
      "https://api.example.com/health",
      "https://api.example.com/v2/jobs/",
      "https://fal.run/anything/at/all",
    ]) {
      expect(custom.parse(ok).href, ok).toBe(ok);
    }
    for (const refused of [
      "https://api.example.com/v1x",
      "https://api.example.com/health/",
      "https://api.example.com/v2/jobs",
      "https://api.example.com/",
      "https://queue.fal.run/fal-ai/flux",
    ]) {
      expect(refusal(refused, custom).code, refused).toBe("target_not_allowed");
    }
    expect(refusal("https://api.example.com/v1/../admin", custom).code).toBe("invalid_target");
  });

  const badRules: [string, unknown][] = [
    ["empty list", []],
    ["not an array", { host: "fal.run" }],
    ["null entry", [null]],
    ["missing host", [{ paths: ["/**"] }]],
    ["empty host", [{ host: "" }]],
    ["scheme in host", [{ host: "https://fal.run" }]],
    ["port in host", [{ host: "fal.run:443" }]],
    ["trailing dot", [{ host: "fal.run." }]],
    ["IPv4 host", [{ host: "127.0.0.1" }]],
    ["IPv6 host", [{ host: "[::1]" }]],
    ["IDN host", [{ host: "fál.run" }]],
    ["path in host", [{ host: "fal.run/x" }]],
    ["wildcard host", [{ host: "*.fal.run" }]],
    ["empty paths", [{ host: "fal.run", paths: [] }]],
    ["relative path", [{ host: "fal.run", paths: ["tokens/"] }]],
    ["dot-dot path", [{ host: "fal.run", paths: ["/a/../b"] }]],
    ["empty segment", [{ host: "fal.run", paths: ["/a//b"] }]],
    ["single star", [{ host: "fal.run", paths: ["/a/*"] }]],
    ["inner glob", [{ host: "fal.run", paths: ["/a/**/b"] }]],
    ["encoded path", [{ host: "fal.run", paths: ["/%2e"] }]],
    ["non-string path", [{ host: "fal.run", paths: [42] }]],
  ];
  test.each(badRules)("bad rule (%s) throws a TypeError naming allowedTargets", (_name, rules) => {
    expect(() => compileTargetPolicy(rules as readonly TargetRule[])).toThrow(TypeError);
    expect(() => compileTargetPolicy(rules as readonly TargetRule[])).toThrow(/`allowedTargets`/);
  });
});
