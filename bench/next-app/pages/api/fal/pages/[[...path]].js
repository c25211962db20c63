// The Pages Router proxy route of the bench's Next app (row `falgate-next-pages`). Which falgate handler it
// serves is decided at run time by bench/procs/falgate.mjs (nextPagesHandler), loaded by Node from the path in
// FALGATE_BENCH_MODULE: the bundler must not follow that import, and the route must not load it during
// `next build`, which evaluates route modules without the bench's environment.
let loading;
let handler;

function load() {
  loading ??= import(/* webpackIgnore: true */ /* turbopackIgnore: true */ process.env.FALGATE_BENCH_MODULE)
    .then((module) => module.nextPagesHandler(JSON.parse(process.env.FALGATE_BENCH_CONFIG ?? "{}")))
    .then((loaded) => {
      handler = loaded;
      return loaded;
    });
  return loading;
}

export default async function falgatePages(req, res) {
  return (handler ?? (await load()))(req, res);
}

// docs/adapters/next.md: falgate streams the raw body both ways; written here as a literal (Next reads it
// statically).
export const config = { api: { bodyParser: false, responseLimit: false } };
