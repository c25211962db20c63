import { type CryptoKey, exportJWK, importJWK, importPKCS8, importSPKI, type JWK } from "jose";

/** Algorithms falgate signs and verifies its own tokens with. */
export type TokenAlgorithm = "HS256" | "EdDSA" | "ES256";

/** A shared-secret key (HS256). The secret must be at least 32 bytes (UTF-8 for strings). */
export interface SecretTokenKey {
  /** Key id written in the token header; verification picks the key by it. */
  kid: string;
  /** @default "HS256" */
  alg?: "HS256";
  secret: string | Uint8Array;
}

/**
 * An asymmetric key (EdDSA/Ed25519 or ES256/P-256). Strings are PEM (PKCS#8 private, SPKI public).
 * A key with only `publicKey` verifies tokens minted elsewhere but cannot sign.
 */
export interface KeyPairTokenKey {
  kid: string;
  alg: "EdDSA" | "ES256";
  privateKey?: string | JWK | CryptoKey;
  /** Derived from `privateKey` when it is a PEM, a JWK or an extractable `CryptoKey`. */
  publicKey?: string | JWK | CryptoKey;
}

/** One signing or verification key. */
export type TokenKey = SecretTokenKey | KeyPairTokenKey;

/** A key ready for jose. */
export interface ResolvedKey {
  kid: string;
  alg: TokenAlgorithm;
  verify: CryptoKey | Uint8Array;
  sign: CryptoKey | Uint8Array | null;
}

/** Smallest HS256 secret, in bytes (RFC 7518 §3.2: at least the hash size). */
export const MIN_SECRET_BYTES = 32;

const KID = /^[\x21-\x7e]{1,128}$/;

function fail(option: string, message: string): never {
  throw new TypeError(`falgate: option \`${option}\` ${message}`);
}

/** Checks one key's shape synchronously (at creation) and returns a normalised copy. */
export function validateKey(key: TokenKey, option: string): TokenKey {
  if (key === null || typeof key !== "object") fail(option, "must be an object");
  if (typeof key.kid !== "string" || !KID.test(key.kid))
    fail(`${option}.kid`, "must be 1-128 printable ASCII characters");
  const alg = key.alg ?? "HS256";
  if (alg === "HS256") {
    const secret = (key as SecretTokenKey).secret;
    secretBytes(secret, `${option}.secret`);
    return { kid: key.kid, alg, secret };
  }
  if (alg !== "EdDSA" && alg !== "ES256")
    fail(`${option}.alg`, `must be "HS256", "EdDSA" or "ES256", got ${JSON.stringify(alg)}`);
  const pair = key as KeyPairTokenKey;
  if (pair.privateKey === undefined && pair.publicKey === undefined) {
    fail(option, "needs a `privateKey` (to sign) or a `publicKey` (to verify)");
  }
  for (const [name, value] of [
    ["privateKey", pair.privateKey],
    ["publicKey", pair.publicKey],
  ] as const) {
    if (value === undefined) continue;
    if (typeof value === "string" && !value.includes("-----BEGIN "))
      fail(`${option}.${name}`, "must be a PEM string, a JWK or a CryptoKey");
    if (typeof value !== "string" && (value === null || typeof value !== "object")) {
      fail(`${option}.${name}`, "must be a PEM string, a JWK or a CryptoKey");
    }
  }
  if (pair.publicKey === undefined && isCryptoKey(pair.privateKey) && !pair.privateKey.extractable) {
    fail(`${option}.publicKey`, "is required when `privateKey` is a non-extractable CryptoKey");
  }
  return { kid: key.kid, alg, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** The bytes of an HS256 secret; throws a `TypeError` naming `option` when shorter than 32 bytes. */
export function secretBytes(secret: unknown, option: string): Uint8Array {
  let bytes: Uint8Array;
  if (typeof secret === "string") bytes = new TextEncoder().encode(secret);
  else if (secret instanceof Uint8Array) bytes = secret;
  else fail(option, "must be a string or a Uint8Array");
  if (bytes.byteLength < MIN_SECRET_BYTES) {
    fail(
      option,
      `must be at least ${MIN_SECRET_BYTES} bytes (generate one with \`openssl rand -base64 32\`)`,
    );
  }
  return bytes;
}

/** Imports a validated key for jose (async: WebCrypto imports are). */
export async function resolveKey(key: TokenKey): Promise<ResolvedKey> {
  if (key.alg === undefined || key.alg === "HS256") {
    const bytes = secretBytes((key as SecretTokenKey).secret, "tokens.secret");
    return { kid: key.kid, alg: "HS256", verify: bytes, sign: bytes };
  }
  const pair = key as KeyPairTokenKey;
  const sign = pair.privateKey === undefined ? null : await importPrivate(pair.privateKey, pair.alg);
  const verify =
    pair.publicKey !== undefined
      ? await importPublic(pair.publicKey, pair.alg)
      : await derivePublic(pair, pair.alg);
  return { kid: pair.kid, alg: pair.alg, verify, sign };
}

async function importPrivate(value: string | JWK | CryptoKey, alg: string): Promise<CryptoKey> {
  if (typeof value === "string") return importPKCS8(value, alg);
  if (isCryptoKey(value)) return value;
  return asCryptoKey(await importJWK(value, alg));
}

async function importPublic(value: string | JWK | CryptoKey, alg: string): Promise<CryptoKey> {
  if (typeof value === "string") return importSPKI(value, alg);
  if (isCryptoKey(value)) return value;
  const { d: _d, ...pub } = value;
  return asCryptoKey(await importJWK(pub, alg));
}

async function derivePublic(key: KeyPairTokenKey, alg: string): Promise<CryptoKey> {
  const priv = key.privateKey;
  let jwk: JWK;
  if (typeof priv === "string") jwk = await exportJWK(await importPKCS8(priv, alg, { extractable: true }));
  else if (isCryptoKey(priv)) jwk = await exportJWK(priv);
  else if (priv !== undefined) jwk = priv;
  else throw new TypeError(`falgate: token key ${key.kid} has no public key`);
  const { d: _d, ...pub } = jwk;
  return asCryptoKey(await importJWK(pub, alg));
}

function asCryptoKey(key: CryptoKey | Uint8Array): CryptoKey {
  if (key instanceof Uint8Array)
    throw new TypeError("falgate: expected an asymmetric key, got a symmetric one");
  return key;
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { type?: unknown }).type === "string" &&
    typeof (value as { algorithm?: unknown }).algorithm === "object" &&
    typeof (value as { extractable?: unknown }).extractable === "boolean"
  );
}
