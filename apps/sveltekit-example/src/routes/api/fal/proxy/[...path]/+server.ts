import { createFalgateHandler } from "@falgate/sveltekit";
import { falgate } from "$lib/server/falgate";

// The fal proxy: `/api/fal/proxy` and every path below it (the token route). Configure `@fal-ai/client` with
// `proxyUrl: "/api/fal/proxy"`.
export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = createFalgateHandler(falgate);
