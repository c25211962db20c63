import { createFalgateHandler } from "@falgate/next";
import { falgateOptions } from "../../../../../lib/falgate";

// The same proxy on the Edge runtime: only the `runtime` line differs from app/api/fal/proxy/route.ts.
export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = createFalgateHandler(falgateOptions);
export const dynamic = "force-dynamic";
export const runtime = "edge";
