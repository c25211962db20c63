import { createFalgateHandler } from "@falgate/next";
import { falgateOptions } from "../../../../../lib/falgate";

// The fal proxy on the Node.js runtime. Configure `@fal-ai/client` with `proxyUrl: "/api/fal/proxy"`.
export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = createFalgateHandler(falgateOptions);
export const dynamic = "force-dynamic";
