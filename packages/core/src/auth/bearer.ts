import { errors, type JWTPayload, jwtVerify } from "jose";
import { FalgateError } from "../errors.js";
import type { FalgateEnv } from "../types.js";
import { type GetKey, KeySetUnavailable, SecretUnavailable } from "./keys.js";
import { type ResolvedBearer, resolveBearerOptions } from "./options.js";
import { findToken, looksLikeJwt, type TokenPlace } from "./token.js";
import type { BearerJwtHook, BearerJwtOptions, JwtClaims, PrincipalResult } from "./types.js";

const EMPTY_ENV: FalgateEnv = Object.freeze({});

/**
 * An `authorize` hook that trusts JWTs from your identity provider: it reads `Authorization: Bearer <JWT>` (or the
 * `cookie` you name), verifies the signature against the provider's key set (`jwksUrl`, `jwks`) or a shared
 * `secret` with pinned `algorithms`, checks `issuer`, `audience`, expiry and the claims you require, and maps the
 * claims to a principal (default: `{ id: claims.sub }`). A missing or bad token answers 401 `unauthenticated`; a key
 * set that cannot be fetched answers 503 `auth_unavailable`. Options are validated here, once (a `TypeError` names a
 * bad one). Works with every adapter and on every runtime (WebCrypto).
 * @example
 * const falgate = createFalgate({
 *   authorize: bearerJwt({
 *     jwksUrl: "https://tenant.us.auth0.com/.well-known/jwks.json",
 *     issuer: "https://tenant.us.auth0.com/",
 *     audience: "https://api.example.com",
 *   }),
 * });
 */
export function bearerJwt<T extends JwtClaims = JwtClaims>(options: BearerJwtOptions<T>): BearerJwtHook<T> {
  const s = resolveBearerOptions(options);

  const hook = async (request: Request, ctx?: { env?: FalgateEnv }): Promise<PrincipalResult> => {
    const found = findToken(request, s.cookie);
    if (found === null) throw missing(s);
    const claims = await verifyToken(s, found.token, ctx?.env ?? EMPTY_ENV, found.place);
    if (s.principal !== null) return s.principal(claims, request);
    // `sub` is a required claim when no mapping is given; its type is checked here.
    if (typeof claims.sub !== "string" || claims.sub === "") throw refuse("has an empty or non-string `sub`");
    return { id: claims.sub };
  };
  return Object.assign(hook, {
    verify: (token: string, env: FalgateEnv = EMPTY_ENV) => verifyToken(s, token, env, "header"),
  });
}

async function verifyToken<T extends JwtClaims>(
  s: ResolvedBearer<T>,
  token: string,
  env: FalgateEnv,
  place: TokenPlace,
): Promise<T> {
  if (typeof token !== "string" || !looksLikeJwt(token, s.maxTokenLength)) {
    throw refuse(
      `is not a compact JWT (header.payload.signature)${place === "cookie" ? " in the cookie" : ""}`,
    );
  }
  let getKey: GetKey;
  try {
    getKey = s.keys(env);
  } catch (error) {
    if (error instanceof SecretUnavailable) {
      s.logger.error(`bearerJwt: ${error.message}`);
      throw new FalgateError("internal_error", "Sign-in verification is misconfigured on the server.");
    }
    throw error;
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, s.verify));
  } catch (error) {
    if (error instanceof KeySetUnavailable) {
      // Not the caller's fault and not a reason to sign them out: a 5xx the client may retry.
      throw new FalgateError(
        "auth_unavailable",
        "The identity provider's signing keys could not be fetched, so the token cannot be verified now; retry shortly.",
        { cause: error, headers: { "retry-after": "5" } },
      );
    }
    if (!(error instanceof errors.JOSEError)) {
      // Not a verdict on the token (a key of the set that cannot be imported, a bug): the server's problem.
      s.logger.error("bearerJwt: token verification failed unexpectedly", {
        error: error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : typeof error,
      });
      throw new FalgateError("internal_error", "Sign-in verification failed on the server.", {
        cause: error,
      });
    }
    throw refuse(describe(error, s), error);
  }
  const azp = payload.azp;
  if (s.authorizedParties !== null && azp !== undefined) {
    if (typeof azp !== "string" || !s.authorizedParties.has(azp)) {
      throw refuse("was issued for another party (claim `azp` is not in `authorizedParties`)");
    }
  }
  return payload as T;
}

function missing<T extends JwtClaims>(s: ResolvedBearer<T>): FalgateError {
  const where =
    s.cookie === null
      ? "send `Authorization: Bearer <token>`"
      : s.cookieName !== null
        ? `send \`Authorization: Bearer <token>\` or the \`${s.cookieName}\` cookie`
        : "send `Authorization: Bearer <token>` or sign in (no session cookie)";
  return new FalgateError("unauthenticated", `Sign in to use this proxy: no token (${where}).`, {
    headers: { "www-authenticate": "Bearer" },
  });
}

/** A 401 for a token that does not verify; the message names the check, never the token or a claim's value. */
function refuse(what: string, cause?: unknown): FalgateError {
  return new FalgateError("unauthenticated", `The sign-in token ${what}.`, {
    headers: { "www-authenticate": 'Bearer error="invalid_token"' },
    ...(cause === undefined ? {} : { cause }),
  });
}

function describe<T extends JwtClaims>(error: unknown, s: ResolvedBearer<T>): string {
  if (error instanceof errors.JWTExpired) {
    // jose reports `maxTokenAge` as an expiry of `iat`.
    if (error.claim === "iat") return "is too old (claim `iat` is older than `maxTokenAge`)";
    return "has expired; sign in again or refresh it";
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (error.reason === "missing") return `has no \`${claim}\` claim, which this proxy requires`;
    if (claim === "iss") return "was issued by another issuer (claim `iss` does not match)";
    if (claim === "aud") return "was issued for another audience (claim `aud` does not match)";
    if (claim === "nbf") return "is not valid yet (claim `nbf`)";
    if (claim === "iat") return "is too old, or issued in the future (claim `iat`)";
    return `has an invalid \`${claim}\` claim`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return `is signed with an algorithm this proxy does not accept (accepted: ${(s.verify.algorithms ?? []).join(", ")})`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return `names a key (\`kid\`) not found in ${s.keySource}`;
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return `has no key id (\`kid\`) and ${s.keySource} holds several candidate keys`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return "has an invalid signature";
  if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTInvalid) {
    return "has malformed claims";
  }
  return "is malformed";
}
