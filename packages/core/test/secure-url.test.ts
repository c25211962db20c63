import { describe, expect, test } from "vitest";
import { bearerJwt, supabaseJwt } from "../src/index.js";
import { secureUrl } from "../src/policy/secure-url.js";

describe("secureUrl: the one rule for URLs falgate trusts keys from", () => {
  test.each([
    "https://keys.example.com/jwks.json",
    "http://localhost:4010/jwks.json",
    "http://auth.localhost/jwks.json",
    "http://127.0.0.1:4010/jwks.json",
    "http://127.12.0.9/jwks.json",
    "http://[::1]:4010/jwks.json",
  ])("accepts %s", (value) => {
    expect(secureUrl(value)?.href).toBe(new URL(value).href);
    expect(secureUrl(new URL(value))?.href).toBe(new URL(value).href);
  });

  test.each([
    "http://keys.example.com/jwks.json",
    "http://localhost.example.com/jwks.json",
    "http://128.0.0.1/jwks.json",
    "http://[::2]/jwks.json",
    "ftp://localhost/jwks.json",
    "not a url",
    "",
  ])("refuses %s", (value) => {
    expect(secureUrl(value)).toBeUndefined();
  });

  test("refuses what is not a string or a URL", () => {
    expect(secureUrl(undefined)).toBeUndefined();
    expect(secureUrl({ toString: () => "https://keys.example.com" })).toBeUndefined();
  });

  test("bearerJwt and supabaseJwt apply it", () => {
    const rest = { issuer: "https://issuer.example.com/", audience: "falgate" };
    expect(() => bearerJwt({ ...rest, jwksUrl: "http://keys.example.com/jwks.json" })).toThrow("`jwksUrl`");
    expect(() => bearerJwt({ ...rest, jwksUrl: "http://auth.localhost/jwks.json" })).not.toThrow();
    expect(() => supabaseJwt({ url: "http://db.example.com" })).toThrow("`url`");
    expect(() => supabaseJwt({ url: "http://auth.localhost:54321" })).not.toThrow();
  });
});
