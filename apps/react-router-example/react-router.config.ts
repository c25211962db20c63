import type { Config } from "@react-router/dev/config";

export default {
  // Server-side rendering on: the fal proxy is a resource route, served by the app's server.
  ssr: true,
} satisfies Config;
