// Demo only: a falgate token that expired two minutes ago, signed with the real secret, so the page can
// show what the tunnel does with an expired token (an Unauthorized frame, then a close). Never ship this.
import { createHmac, randomUUID } from "node:crypto";
import { DEMO_APPS } from "../../../../lib/falgate-config.mjs";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Answers an expired falgate token as a JSON string (what a token route answers). */
export function POST(): Response {
  const secret = process.env.FALGATE_TOKEN_SECRET;
  if (!secret)
    return Response.json({ error: { code: "not_found", message: "No token secret." } }, { status: 404 });
  const now = Math.floor(Date.now() / 1000);
  const header = encode({ alg: "HS256", kid: "default", typ: "falgate+jwt" });
  const payload = encode({
    apps: [`${DEMO_APPS.realtime}/realtime`],
    iss: "falgate",
    aud: "falgate:realtime",
    sub: "demo-expired",
    iat: now - 180,
    exp: now - 120,
    jti: randomUUID(),
  });
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return Response.json(`${header}.${payload}.${signature}`, { headers: { "cache-control": "no-store" } });
}
