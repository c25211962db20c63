// The sign-in stub: a cookie holding a user name stands in for a real session, so the `authorize`
// hook in falgate-config.mjs has something to check.
import { SESSION_COOKIE } from "../../../lib/falgate-config.mjs";

export const dynamic = "force-dynamic";

const COOKIE_ATTRIBUTES = "Path=/; HttpOnly; SameSite=Lax";

/** Signs in as `{ "user": "..." }` (default "ada"). */
export async function POST(request: Request): Promise<Response> {
  const body = (await request.json().catch(() => ({}))) as { user?: unknown };
  const user = typeof body.user === "string" && /^[A-Za-z0-9_.-]{1,40}$/.test(body.user) ? body.user : "ada";
  return Response.json(
    { user },
    {
      headers: {
        "set-cookie": `${SESSION_COOKIE}=${encodeURIComponent(user)}; ${COOKIE_ATTRIBUTES}; Max-Age=86400`,
      },
    },
  );
}

/** Signs out. */
export function DELETE(): Response {
  return Response.json(
    { user: null },
    { headers: { "set-cookie": `${SESSION_COOKIE}=; ${COOKIE_ATTRIBUTES}; Max-Age=0` } },
  );
}
