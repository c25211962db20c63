// The App Router proxy route of the bench's Next app (row `falgate-next`): the falgate handlers of
// bench/procs/falgate.mjs (nextRouteHandlers), loaded at run time (lib/bench-module.js).
import { routeMethods } from "../../../../../lib/bench-module.js";

export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = routeMethods("nextRouteHandlers");
export const dynamic = "force-dynamic";
export const runtime = "nodejs";
