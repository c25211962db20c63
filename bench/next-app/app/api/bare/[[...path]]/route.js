// The bare route of the bench's Next app (row `next-bare`): a fetch pass-through without falgate, the reference
// the falgate Next rows are compared with. Its handlers come at run time from bench/procs/next-bare.mjs, loaded
// by Node from the path in FALGATE_BENCH_MODULE: the bundler must not follow that import, and the route must not
// load it during `next build`, which evaluates route modules without the bench's environment.
let loading;
let handlers;

function load() {
  loading ??= import(/* webpackIgnore: true */ /* turbopackIgnore: true */ process.env.FALGATE_BENCH_MODULE)
    .then((module) => module.bareRouteHandlers(JSON.parse(process.env.FALGATE_BENCH_CONFIG ?? "{}")))
    .then((loaded) => {
      handlers = loaded;
      return loaded;
    });
  return loading;
}

function method(name) {
  return async (request) => (handlers ?? (await load()))[name](request);
}

export const GET = method("GET");
export const POST = method("POST");
export const PUT = method("PUT");
export const DELETE = method("DELETE");
export const PATCH = method("PATCH");
export const HEAD = method("HEAD");
export const OPTIONS = method("OPTIONS");
export const dynamic = "force-dynamic";
export const runtime = "nodejs";
