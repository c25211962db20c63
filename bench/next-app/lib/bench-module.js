// What every route of the bench's Next app serves comes at run time from a bench module (bench/procs/falgate.mjs
// or bench/procs/next-bare.mjs), loaded by Node from the path in FALGATE_BENCH_MODULE with the row's config from
// FALGATE_BENCH_CONFIG: the bundler must not follow that import, and a route must not load it during
// `next build`, which evaluates route modules without the bench's environment.

/** A getter of (a promise of) what the bench module's `factory(config)` returns, loaded once on first use. */
export function fromBenchModule(factory) {
  let loading;
  return () => {
    loading ??= import(
      /* webpackIgnore: true */ /* turbopackIgnore: true */ process.env.FALGATE_BENCH_MODULE
    ).then((module) => module[factory](JSON.parse(process.env.FALGATE_BENCH_CONFIG ?? "{}")));
    return loading;
  };
}

/** App Router method exports calling the handlers the bench module's `factory` builds. */
export function routeMethods(factory) {
  const handlers = fromBenchModule(factory);
  const method = (name) => async (request) => (await handlers())[name](request);
  return {
    GET: method("GET"),
    POST: method("POST"),
    PUT: method("PUT"),
    DELETE: method("DELETE"),
    PATCH: method("PATCH"),
    HEAD: method("HEAD"),
    OPTIONS: method("OPTIONS"),
  };
}
