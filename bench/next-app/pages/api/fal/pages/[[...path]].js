// The Pages Router proxy route of the bench's Next app (row `falgate-next-pages`): the falgate handler of
// bench/procs/falgate.mjs (nextPagesHandler), loaded at run time (lib/bench-module.js).
import { fromBenchModule } from "../../../../lib/bench-module.js";

const handler = fromBenchModule("nextPagesHandler");

export default async function falgatePages(req, res) {
  return (await handler())(req, res);
}

// docs/adapters/next.md: falgate streams the raw body both ways; written here as a literal (Next reads it
// statically).
export const config = { api: { bodyParser: false, responseLimit: false } };
