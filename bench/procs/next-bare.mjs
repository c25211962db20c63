// The bare Next reference (`next-bare`): what a Next developer writes without falgate, an App Router route
// handler that forwards the call with undici's `fetch` over a keep-alive pool and returns the upstream's body as
// the Response. No policy, no checks: the key injected and the hop-by-hop headers dropped, nothing else. Under
// `next start` like the falgate Next rows, it is the ceiling of any route handler there: the gap between it and
// falgate standalone is Next's own per-request cost (routing, App Router Request/Response), not falgate's.
// It runs in two ways:
//   - as the row's bench child (`node next-bare.mjs`): supervises `next start` (lib/next-app.mjs, route "bare")
//     and reports that process;
//   - imported by the Next app's bare route (bench/next-app/app/api/bare), which calls bareRouteHandlers().
import { isMain, runChild } from "../lib/child.mjs";
import { HOP_BY_HOP } from "../lib/hop.mjs";

// What must not go on: hop-by-hop headers, the client's host and the target header.
const DROP_REQUEST = new Set(["host", "x-fal-target-url", ...HOP_BY_HOP]);
const DROP_RESPONSE = new Set(HOP_BY_HOP);

/**
 * The route's handler: `x-fal-target-url` names the fal URL; the call goes to the same upstream URL falgate's
 * `upstream` option sends it to (the upstream's origin + the target's path and query, the fal host in
 * `x-falgate-upstream-host`, which the bench's mock routes by), with `Authorization: Key`.
 * @param {{ upstream: string, key: string }} config
 */
export async function bareRouteHandlers({ upstream, key }) {
  const { Agent, fetch } = await import("undici");
  // Keep-alive connections to the upstream, reused across calls (undici's default Agent keeps them 4 s idle).
  // The upstream's certificate is trusted through NODE_EXTRA_CA_CERTS, like every row.
  const dispatcher = new Agent();
  const origin = new URL(upstream).origin;
  const authorization = `Key ${key}`;

  async function handle(request) {
    let target;
    try {
      target = new URL(request.headers.get("x-fal-target-url") ?? "");
    } catch {
      return Response.json({ error: "x-fal-target-url must be a URL" }, { status: 400 });
    }
    const headers = new Headers();
    for (const [name, value] of request.headers) if (!DROP_REQUEST.has(name)) headers.append(name, value);
    headers.set("authorization", authorization);
    headers.set("x-falgate-upstream-host", target.host);
    let answer;
    try {
      answer = await fetch(origin + target.pathname + target.search, {
        method: request.method,
        headers,
        body: request.body ?? undefined,
        duplex: "half",
        redirect: "manual",
        dispatcher,
      });
    } catch {
      return Response.json({ error: "upstream unreachable" }, { status: 502 });
    }
    const out = new Headers();
    for (const [name, value] of answer.headers) if (!DROP_RESPONSE.has(name)) out.append(name, value);
    // fetch decodes a compressed answer: what goes on is the decoded body, of another length.
    if (out.has("content-encoding")) {
      out.delete("content-encoding");
      out.delete("content-length");
    }
    return new Response(answer.body, { status: answer.status, statusText: answer.statusText, headers: out });
  }

  return Object.fromEntries(
    ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"].map((m) => [m, handle]),
  );
}

if (isMain(import.meta.url)) {
  runChild(async (config) => {
    const { startNextApp } = await import("../lib/next-app.mjs");
    return startNextApp({ module: import.meta.url, route: "bare", config });
  });
}
