import type { CookieTokenReader } from "./types.js";

/** A compact JWS: three base64url parts (the signature part may not be empty for any algorithm we accept). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

/** Where a token was found, for messages (never the token itself). */
export type TokenPlace = "header" | "cookie";

/** The token of a request and where it came from, or `null` when the request carries none. */
export interface FoundToken {
  token: string;
  place: TokenPlace;
}

/**
 * The bearer token of `Authorization`, else the one the cookie reader finds. A header with another scheme
 * (`Basic`, `Key`) is not ours and is ignored.
 */
export function findToken(request: Request, cookie: CookieTokenReader | null): FoundToken | null {
  const authorization = request.headers.get("authorization");
  if (authorization !== null) {
    const match = BEARER.exec(authorization);
    if (match) return { token: match[1]!, place: "header" };
  }
  if (cookie === null) return null;
  const header = request.headers.get("cookie");
  if (header === null || header === "") return null;
  const token = cookie(parseCookies(header));
  return typeof token === "string" && token !== "" ? { token, place: "cookie" } : null;
}

/** True when `token` has the shape of a compact JWS and a sane length. */
export function looksLikeJwt(token: string, maxLength: number): boolean {
  return token.length <= maxLength && COMPACT_JWS.test(token);
}

/**
 * The cookies of a `Cookie` header, name → value. The first occurrence of a name wins (browsers send the most
 * specific path first); values are URI-decoded when they can be, quotes around a value are dropped.
 */
export function parseCookies(header: string): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    if (name === "" || cookies.has(name)) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.includes("%")) {
      try {
        value = decodeURIComponent(value);
      } catch {
        // Not URI-encoded after all: keep it as sent.
      }
    }
    cookies.set(name, value);
  }
  return cookies;
}

/** A reader for a cookie that holds the compact JWT itself. */
export function namedCookie(name: string): CookieTokenReader {
  return (cookies) => cookies.get(name);
}
