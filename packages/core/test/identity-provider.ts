// A local identity provider for the bearerJwt tests: signing keys generated at test time, their public halves served
// as a JSON Web Key Set over loopback HTTP, and a switch to make the key set slow, broken or gone.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

/** One signing key: its private half signs, its public JWK is published. */
export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

/** Generates a key pair for `alg` and its public JWK with `kid`, `alg` and `use` as providers publish them. */
export async function signingKey(alg: string, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** What the key set endpoint does. */
export type JwksMode = "ok" | "hang" | "error" | "not-json";

export interface IdentityProvider {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** `{origin}/.well-known/jwks.json` */
  jwksUrl: string;
  /** Keys currently published (mutable: add one to rotate). */
  keys: SigningKey[];
  mode: JwksMode;
  /** Requests the key set endpoint received. */
  hits: number;
  /** Signs `claims` with `key` (default: the first published key); `header` adds to or replaces the header. */
  sign(claims: JWTPayload, options?: { key?: SigningKey; header?: Record<string, unknown> }): Promise<string>;
  close(): Promise<void>;
}

/** Starts a key set server on loopback publishing `keys`. */
export async function startIdentityProvider(keys: SigningKey[]): Promise<IdentityProvider> {
  const hanging = new Set<import("node:http").ServerResponse>();
  const idp: IdentityProvider = {
    origin: "",
    jwksUrl: "",
    keys,
    mode: "ok",
    hits: 0,
    async sign(claims, options = {}) {
      const key = options.key ?? idp.keys[0]!;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...options.header })
        .sign(key.privateKey);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    if (req.url !== "/.well-known/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    idp.hits++;
    if (idp.mode === "hang") {
      hanging.add(res);
      return;
    }
    if (idp.mode === "error") {
      res.writeHead(503, { "content-type": "text/plain" }).end("unavailable");
      return;
    }
    if (idp.mode === "not-json") {
      res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>");
      return;
    }
    res
      .writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600" })
      .end(JSON.stringify({ keys: idp.keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  idp.origin = `http://127.0.0.1:${port}`;
  idp.jwksUrl = `${idp.origin}/.well-known/jwks.json`;
  return idp;
}

/** Seconds since the epoch. */
export const now = (): number => Math.floor(Date.now() / 1000);
