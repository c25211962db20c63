import { createFalgateHandler } from "@falgate/astro";
import { falgate } from "../../../../lib/falgate";

// The fal proxy: `/api/fal/proxy` and every path below it (the token route), rendered on demand. Configure
// `@fal-ai/client` with `proxyUrl: "/api/fal/proxy"`.
export const prerender = false;
export const { ALL } = createFalgateHandler(falgate);
