// A throwaway self-signed certificate for the loopback upstream, made with openssl at bench time in a temp
// dir (never committed). It names 127.0.0.1 and the fal hosts, so a client that resolves `fal.run` to the
// loopback upstream (the @fal-ai/server-proxy rows) verifies it like any other.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";

const NAMES = ["IP:127.0.0.1", "DNS:localhost", "DNS:fal.run", "DNS:*.fal.run", "DNS:fal.ai", "DNS:*.fal.ai"];

/**
 * Creates the key and certificate (ECDSA P-256, valid 2 days) in a new temp dir.
 * @returns {{ dir: string, certFile: string, keyFile: string, cert: string, key: string, remove(): void }}
 */
export function makeCertificate() {
  const dir = mkdtempSync(join(os.tmpdir(), "falgate-bench-tls-"));
  const certFile = join(dir, "upstream.crt");
  const keyFile = join(dir, "upstream.key");
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=falgate bench upstream",
        "-addext",
        `subjectAltName=${NAMES.join(",")}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-keyout",
        keyFile,
        "-out",
        certFile,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const detail = error?.code === "ENOENT" ? "openssl is not installed (apt-get install openssl)" : error;
    throw new Error(`could not create the upstream's TLS certificate: ${detail}`);
  }
  return {
    dir,
    certFile,
    keyFile,
    cert: readFileSync(certFile, "utf8"),
    key: readFileSync(keyFile, "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
