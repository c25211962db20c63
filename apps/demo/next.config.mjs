import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** @type {import("next").NextConfig} */
const config = {
  reactStrictMode: true,
  // The pnpm workspace root, so Turbopack resolves the linked @falgate/* packages.
  turbopack: { root: `${here}/../..` },
};

export default config;
