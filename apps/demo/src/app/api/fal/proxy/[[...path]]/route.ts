// The falgate mount, exactly as docs/adapters/next.md shows it: one optional catch-all route serves the
// proxy (`/api/fal/proxy`) and the token route (`/api/fal/proxy/token`).
import { createFalgateHandler } from "@falgate/next";
import { demoFalgate } from "../../../../../lib/falgate-config.mjs";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export const { GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS } = createFalgateHandler(demoFalgate());
