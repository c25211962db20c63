// The bench has no package.json of its own: it uses the BUILT workspace packages by relative path and
// borrows undici and ws from @falgate/node's dependencies, so `pnpm bench` needs no extra install.
import { createRequire } from "node:module";

const nodePackage = new URL("../../packages/node/package.json", import.meta.url);
const require = createRequire(nodePackage);

/** undici as installed for @falgate/node (the load generator's HTTP client). */
export const undici = require("undici");
/** ws as installed for @falgate/node (the load generator's WebSocket client). */
export const ws = require("ws");

/** URL of a built workspace package's entry point (`packages/<name>/dist/index.js`). */
export function distUrl(name) {
  return new URL(`../../packages/${name}/dist/index.js`, import.meta.url).href;
}
