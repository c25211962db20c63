// The bare route of the bench's Next app (row `next-bare`): a fetch pass-through without falgate, the reference
// the falgate Next rows are compared with, from bench/procs/next-bare.mjs (bareRouteHandlers), loaded at run time
// (lib/bench-module.js).
import { routeMethods } from "../../../../lib/bench-module.js";

export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = routeMethods("bareRouteHandlers");
export const dynamic = "force-dynamic";
export const runtime = "nodejs";
