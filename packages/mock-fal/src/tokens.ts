import { randomBytes } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import type { MockTokenClaims } from "./types.js";

const ISSUER = "mock-fal";

/** Mints and verifies the HS256 realtime tokens of `POST /tokens/`. */
export class TokenIssuer {
  private readonly secret: Uint8Array;

  constructor(secret: string | undefined) {
    if (secret !== undefined && Buffer.byteLength(secret) < 32) {
      throw new TypeError("mock-fal option `jwtSecret` must be at least 32 bytes");
    }
    this.secret = secret !== undefined ? new TextEncoder().encode(secret) : randomBytes(32);
  }

  /** A signed token for `allowedApps`, valid `expirationSeconds`. */
  mint(allowedApps: string[], expirationSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ allowed_apps: allowedApps })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(ISSUER)
      .setSubject("mock-user")
      .setIssuedAt(now)
      .setExpirationTime(now + expirationSeconds)
      .sign(this.secret);
  }

  /** The claims of a valid, unexpired token minted here; `null` otherwise. */
  async verify(token: string): Promise<MockTokenClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.secret, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        requiredClaims: ["exp", "iat"],
      });
      const apps = payload.allowed_apps;
      if (!Array.isArray(apps) || !apps.every((a) => typeof a === "string")) return null;
      return { allowed_apps: apps, exp: payload.exp!, iat: payload.iat! };
    } catch {
      return null;
    }
  }
}

/** Whether a token's `allowed_apps` admits the app (fal scopes by alias; `owner/alias` is accepted too). */
export function tokenAllows(claims: MockTokenClaims, owner: string, alias: string): boolean {
  return claims.allowed_apps.includes(alias) || claims.allowed_apps.includes(`${owner}/${alias}`);
}
