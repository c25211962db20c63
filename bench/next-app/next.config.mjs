// The bench's Next app: one route handler, built with `next build` and served by `next start` at bench time.
/** @type {import('next').NextConfig} */
const nextConfig = {
  // The falgate handler is constructed at run time by bench/procs/falgate.mjs (loaded by Node, not bundled).
  poweredByHeader: false,
};

export default nextConfig;
