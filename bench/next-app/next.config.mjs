// The bench's Next app: three proxy routes (lib/next-app.mjs), built with `next build` and served by
// `next start` at bench time.
/** @type {import('next').NextConfig} */
const nextConfig = {
  // What the routes serve is constructed at run time by bench/procs/falgate.mjs or next-bare.mjs (loaded by
  // Node, not bundled).
  poweredByHeader: false,
};

export default nextConfig;
