import {
  type CryptoKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  jwksCache,
} from "jose";
import type { FalgateEnv, FetchLike, Logger } from "../types.js";
import type { SecretSource } from "./types.js";

/** What jose's `jwtVerify` calls for the key of a token. */
export type GetKey = (
  header: JWSHeaderParameters,
  token: FlattenedJWSInput,
) => Promise<CryptoKey | Uint8Array>;

/** The key source of a verifier: per env, since a secret may live in a Worker's env. */
export type KeySource = (env: FalgateEnv) => GetKey;

/** The key set could not be fetched and no usable copy is left: a server-side outage, not the caller's fault. */
export class KeySetUnavailable extends Error {
  override readonly name = "KeySetUnavailable";
}

/** A secret that turned out unusable at request time (read from the env). */
export class SecretUnavailable extends Error {
  override readonly name = "SecretUnavailable";
}

/** How a remote key set is read; resolved once from the options. */
export interface RemoteSettings {
  url: URL;
  fetch: FetchLike | undefined;
  timeout: number;
  cooldown: number;
  cacheMaxAge: number;
  staleIfError: number;
  logger: Logger;
}

/**
 * jose's remote key set (cache, refetch for an unknown `kid` once per cooldown, timeout) with two additions for
 * outages: after a failed fetch, requests within the cooldown fail fast instead of each waiting for the timeout
 * again; and the last key set fetched keeps verifying for `staleIfError` after its fetch.
 */
export function remoteKeySet(s: RemoteSettings): KeySource {
  // jose writes every successful fetch here (`uat`, `jwks`): the copy used while the provider is unreachable.
  const cache: { uat?: number; jwks?: JSONWebKeySet } = {};
  const remote = createRemoteJWKSet(s.url, {
    timeoutDuration: Math.ceil(s.timeout),
    cooldownDuration: s.cooldown,
    cacheMaxAge: s.cacheMaxAge,
    [jwksCache]: cache as Record<string, never>,
    ...(s.fetch ? { [customFetch]: s.fetch } : {}),
  });
  let failedAt = Number.NEGATIVE_INFINITY;
  let lastError = "";
  let stale: { jwks: JSONWebKeySet; getKey: GetKey } | null = null;

  const fromStale: GetKey = (header, token) => {
    const { jwks, uat } = cache;
    if (jwks === undefined || uat === undefined || Date.now() - uat > s.staleIfError) {
      return Promise.reject(new KeySetUnavailable(lastError));
    }
    if (stale?.jwks !== jwks) stale = { jwks, getKey: createLocalJWKSet(jwks) };
    return stale.getKey(header, token);
  };

  const getKey: GetKey = async (header, token) => {
    if (Date.now() - failedAt < s.cooldown) return fromStale(header, token);
    try {
      return await remote(header, token);
    } catch (error) {
      if (isTokenSide(error)) throw error;
      // Calls that waited on the same failed fetch report it once.
      const first = Date.now() - failedAt >= s.cooldown;
      failedAt = Date.now();
      lastError = reason(error, s.timeout);
      if (first)
        s.logger.warn("bearerJwt: the JSON Web Key Set could not be fetched", {
          url: s.url.href,
          error: lastError,
          usingCachedKeys: cache.jwks !== undefined && Date.now() - (cache.uat ?? 0) <= s.staleIfError,
        });
      return fromStale(header, token);
    }
  };
  return () => getKey;
}

/** A key set given in the options. */
export function localKeySet(jwks: JSONWebKeySet): KeySource {
  const getKey: GetKey = createLocalJWKSet(jwks);
  return () => getKey;
}

/** A shared secret, fixed or read per env (one cached copy per value). */
export function secretKey(source: SecretSource, minBytes: number): KeySource {
  if (typeof source !== "function") {
    const bytes = toBytes(source);
    const getKey: GetKey = () => Promise.resolve(bytes);
    return () => getKey;
  }
  let cached: { value: unknown; getKey: GetKey } | null = null;
  return (env) => {
    const value = source(env);
    if (cached !== null && cached.value === value) return cached.getKey;
    if (value === undefined || value === "") {
      throw new SecretUnavailable("the `secret` function found no secret in the env");
    }
    const bytes = toBytes(value);
    if (bytes.byteLength < minBytes) {
      throw new SecretUnavailable(`the secret read from the env is shorter than ${minBytes} bytes`);
    }
    const getKey: GetKey = () => Promise.resolve(bytes);
    cached = { value, getKey };
    return getKey;
  };
}

/** The bytes of a secret (UTF-8 for strings, as every provider signing with a string secret uses them). */
export function toBytes(secret: string | Uint8Array): Uint8Array {
  return typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
}

/**
 * Errors that say something about the token (no key for its `kid`, an algorithm the set cannot serve), as opposed
 * to the key set being unreachable or unreadable.
 */
function isTokenSide(error: unknown): boolean {
  return (
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys ||
    error instanceof errors.JOSENotSupported ||
    error instanceof errors.JOSEAlgNotAllowed
  );
}

/** A short reason for a failed fetch, for the log (jose's messages, or the transport's). */
function reason(error: unknown, timeout: number): string {
  if (error instanceof errors.JWKSTimeout) return `no answer within ${timeout} ms`;
  if (error instanceof errors.JWKSInvalid) return "the answer is not a JSON Web Key Set";
  if (error instanceof Error) return `${error.name}: ${error.message.slice(0, 200)}`;
  return String(error);
}
