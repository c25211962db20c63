import { FalgateError, isFalgateError } from "../errors.js";
import type { CallRecord } from "../events/types.js";
import type { Admission, Usage } from "../limits/limiter.js";
import type { Settings } from "../options/resolve.js";
import { checkWebhook, classifyTarget, type FalTarget } from "../policy/index.js";
import { checkFalTokenTarget, rewriteFalTokenRequest } from "../tokens/fal.js";
import type { TokenIssuer } from "../tokens/jwt.js";
import { isTokenPath, mintFalgateToken, tokenRoute } from "../tokens/route.js";
import type { HookContext, MintInfo, Platform, Principal } from "../types.js";
import { ANONYMOUS, authenticate, checkOrigin, limitKey } from "./access.js";
import { corsHeaders, preflightReply } from "./cors.js";
import { endToEndAcceptEncoding, upstreamRequestHeaders } from "./headers.js";
import type { CallInput } from "./input.js";
import { bodyTooLarge } from "./input.js";
import { resolveKey } from "./key.js";
import { isProxyMethod, methodNotAllowed } from "./methods.js";
import { createPlan, type ForwardPlan } from "./plan.js";
import { errorReply, jsonReply, type Reply } from "./reply.js";

/** What the core decided about one request: answer it with a reply, or forward it with a plan. */
export type Decision = { kind: "reply"; reply: Reply } | { kind: "forward"; plan: ForwardPlan };

const FAL_TOKENS = new URL("https://rest.fal.ai/tokens/");

/**
 * The portable pipeline of one HTTP call: hosts and origin, route, authorize, policy, key, plan. Performs no I/O
 * besides the app's hooks (and the body read of token requests); never throws: a refusal is a reply.
 */
export async function decide<C extends object>(
  settings: Settings<C>,
  input: CallInput,
  platform: Platform<C>,
): Promise<Decision> {
  const startedAt = performance.now();
  const record: CallRecord = {
    route: "proxy",
    method: input.method,
    principal: null,
    appId: null,
    endpointId: null,
    action: null,
    startedAt: Date.now(),
  };
  let corsOrigin: string | null = null;
  try {
    const verdict = checkOrigin(input, settings);
    corsOrigin = verdict.corsOrigin;
    if (input.method === "OPTIONS" && corsOrigin !== null && input.header("access-control-request-method")) {
      record.route = "preflight";
      return answered(
        settings,
        record,
        preflightReply(corsOrigin, input.header("access-control-request-headers"), settings),
        startedAt,
      );
    }
    if (!isProxyMethod(input.method)) throw methodNotAllowed(input.method);
    const env = settings.env(platform.env);
    const ctx = { ...platform.context, env } as HookContext<C>;
    const principal = await authenticate(input, ctx, settings, verdict);
    record.principal = principal.id;
    const call: Call<C> = { settings, input, platform, ctx, principal, record, corsOrigin, startedAt };

    const rawTarget = input.header("x-fal-target-url");
    if (rawTarget === null) {
      const path = pathOf(input.url);
      if (isTokenPath(path)) return await tokenCall(call);
      if (isUsagePath(path)) return await usageCall(call);
    }
    const target = settings.targets.parse(rawTarget);
    const fal = classifyTarget(target);
    describe(record, fal);
    checkWebhook(target, settings.webhookOrigins);
    if (!settings.endpoints.allows(fal, principal.endpoints)) {
      throw new FalgateError(
        "endpoint_not_allowed",
        fal.endpointId
          ? `Endpoint ${fal.endpointId} is not allowed for this proxy.`
          : "This target is not an endpoint this proxy allows.",
      );
    }
    if (fal.kind !== "token") return { kind: "forward", plan: await plan(call, target, fal, null) };
    checkFalTokenTarget(target);
    const { body, aliases } = await rewriteFalTokenRequest(input, {
      principal,
      endpoints: settings.endpoints,
      maxExpiration: settings.falTokenMaxExpiration,
    });
    return {
      kind: "forward",
      plan: await plan(call, target, fal, body, { mint: { type: "fal", apps: aliases } }),
    };
  } catch (error) {
    if (!isFalgateError(error)) {
      // Not ours: usually a bug in an app hook (authorize, credentials, onRequest). Its message helps the
      // app's developer; the key is never part of a message falgate builds.
      settings.logger.error("unexpected error in falgate", {
        error: error instanceof Error ? `${error.name}: ${error.message.slice(0, 300)}` : typeof error,
      });
    }
    const reply = errorReply(error, corsHeaders(corsOrigin, settings));
    if (settings.events.active) emitEnd(settings, record, "refused", reply, startedAt, error);
    return { kind: "reply", reply };
  }
}

/** One authenticated call on its way through the pipeline. */
interface Call<C extends object> {
  settings: Settings<C>;
  input: CallInput;
  platform: Platform<C>;
  ctx: HookContext<C>;
  principal: Principal;
  record: CallRecord;
  corsOrigin: string | null;
  startedAt: number;
}

/** Who the limits count this call against (see {@link limitKey}). */
function keyOf<C extends object>(call: Call<C>): string {
  return limitKey(call.principal, call.input, call.platform, call.settings.trustProxy);
}

/** The token route (`POST {mount}/token`, no `x-fal-target-url`): see docs/realtime.md. */
async function tokenCall<C extends object>(call: Call<C>): Promise<Decision> {
  const { settings, input, principal, record } = call;
  record.route = "token";
  record.action = "token";
  let issuer: TokenIssuer | null;
  try {
    issuer = settings.tokenIssuer(call.ctx.env);
  } catch (error) {
    settings.logger.error("falgate token keys are misconfigured", {
      error: error instanceof Error ? error.message : String(error),
    });
    throw new FalgateError("internal_error", "falgate token keys are misconfigured.");
  }
  const admission = settings.mintLimiter
    ? await settings.mintLimiter.admit({ principal: keyOf(call), kind: "token", target: null })
    : null;
  // An anonymous caller's tokens name its address key, so the tunnel's limits count it like its HTTP calls.
  const tokenPrincipal = principal === ANONYMOUS ? { id: keyOf(call) } : principal;
  try {
    const result = await tokenRoute(input, {
      principal: tokenPrincipal,
      endpoints: settings.endpoints,
      maxExpiration: settings.falTokenMaxExpiration,
      issuer,
    });
    record.endpointId = result.app;
    record.appId = classifyTarget(new URL(`https://fal.run/${result.app}`)).appId;
    const mint: MintInfo = { type: result.type, apps: [result.app] };
    if (result.type === "falgate") {
      // A mint is a call like any other for the app's hook, which may still refuse it.
      if (settings.onRequest) {
        const { ctx } = call;
        const target = new URL(input.url);
        await settings.onRequest({
          principal,
          method: input.method,
          target,
          endpointId: null,
          request: input.request,
          ctx,
          mint,
        });
      }
      const reply = await mintFalgateToken(result.issuer, tokenPrincipal, result.app);
      reply.headers.push(...corsHeaders(call.corsOrigin, settings), ...limitHeaders(admission));
      settleNow(call, admission, 200);
      return answered(settings, record, reply, call.startedAt);
    }
    // A clean JSON POST: the browser's request may carry no content-type (`?app=`) or other headers.
    const headers = ["content-type", "application/json", "accept", "application/json"];
    return {
      kind: "forward",
      plan: await plan(call, FAL_TOKENS, null, result.falTokenBody, { headers, admission, mint }),
    };
  } catch (error) {
    settleNow(call, admission, 0);
    throw error;
  }
}

/** `GET {mount}/usage`: the caller's own counters (what is left), for a page to show. */
async function usageCall<C extends object>(call: Call<C>): Promise<Decision> {
  const { settings, input, record } = call;
  record.route = "usage";
  if (input.method !== "GET" && input.method !== "HEAD") {
    throw new FalgateError("method_not_allowed", "Usage is read with GET.", { headers: { allow: "GET" } });
  }
  const key = keyOf(call);
  const usage: Usage = settings.limiter
    ? await settings.limiter.usage(key)
    : { principal: key, rate: null, concurrency: null, budget: null };
  return answered(
    settings,
    record,
    jsonReply(200, usage, corsHeaders(call.corsOrigin, settings)),
    call.startedAt,
  );
}

/** The limits' headers of an admitted call, as pairs. */
function limitHeaders(admission: Admission | null): Array<[string, string]> {
  return admission ? Object.entries(admission.headers) : [];
}

/** Settles a reservation whose call ended without a forwarded answer (a refusal after admission, a minted token). */
function settleNow<C extends object>(call: Call<C>, admission: Admission | null, status: number): void {
  // `mintLimiter` is `limiter` whenever calls are limited: every admission came from it.
  const limiter = call.settings.mintLimiter;
  if (!admission || !limiter) return;
  const done = limiter.settle(admission.reservation, { status, header: () => null });
  call.platform.waitUntil?.(done);
}

/** Hooks, key, limits and plan for a call that passed policy. */
async function plan<C extends object>(
  call: Call<C>,
  target: URL,
  fal: FalTarget | null,
  body: string | null,
  token?: { headers?: string[]; admission?: Admission | null; mint: MintInfo },
): Promise<ForwardPlan> {
  const { settings, input, ctx, principal, record } = call;
  const fixedHeaders = token?.headers;
  const endpointId = fal?.endpointId ?? null;
  const method = fixedHeaders ? "POST" : input.method;
  const relayBody = body === null && method !== "GET" && method !== "HEAD";
  if (relayBody && settings.maxBodySize > 0) {
    const declared = input.header("content-length");
    if (declared !== null && Number(declared) > settings.maxBodySize)
      throw bodyTooLarge(settings.maxBodySize);
  }
  if (settings.onRequest) {
    const info = { principal, method, target, endpointId, request: input.request, ctx };
    await settings.onRequest(token ? { ...info, mint: token.mint } : info);
  }
  const key = await resolveKey(() => input.request, ctx.env, principal, settings);
  // Token mints (the token route's fal tokens, intercepted fal token requests) count even when calls are not limited.
  const limiter = token ? settings.mintLimiter : settings.limiter;
  const admission =
    token?.admission !== undefined
      ? token.admission
      : limiter
        ? await limiter.admit({ principal: keyOf(call), kind: "proxy", target: fal })
        : null;
  let plan: ForwardPlan;
  try {
    plan = createPlan({
      settings,
      record,
      target,
      method,
      headers: fixedHeaders ?? upstreamRequestHeaders(input, settings.forwardHeaders, relayBody),
      acceptEncoding: fixedHeaders ? null : endToEndAcceptEncoding(input),
      body,
      relayBody,
      key,
      corsOrigin: call.corsOrigin,
      principal,
      endpointId,
      ctx,
      env: ctx.env,
      waitUntil: call.platform.waitUntil,
      startedAt: call.startedAt,
      limits: admission && limiter ? { limiter, admission } : null,
      capture: admission && fal && (fal.action === "submit" || fal.action === "cancel") ? CAPTURE_BYTES : 0,
    });
  } catch (error) {
    settleNow(call, admission, 0);
    throw error;
  }
  if (settings.events.active) settings.events.emit({ type: "call.start", call: record });
  return plan;
}

/** How much of a queue submit's or cancel's answer the limits may read (its `request_id`, its `status`). */
const CAPTURE_BYTES = 4096;

/** True when a path (without `x-fal-target-url`) is the usage route (it ends in `/usage`). */
function isUsagePath(pathname: string): boolean {
  return pathname.replace(/\/+$/, "").endsWith("/usage");
}

function describe(record: CallRecord, fal: FalTarget): void {
  record.appId = fal.appId;
  record.endpointId = fal.endpointId;
  record.action = fal.action;
}

function answered<C extends object>(
  settings: Settings<C>,
  record: CallRecord,
  reply: Reply,
  startedAt: number,
): Decision {
  if (settings.events.active) emitEnd(settings, record, "answered", reply, startedAt, null);
  return { kind: "reply", reply };
}

function emitEnd<C extends object>(
  settings: Settings<C>,
  record: CallRecord,
  decision: "refused" | "answered",
  reply: Reply,
  startedAt: number,
  error: unknown,
): void {
  const ms = performance.now() - startedAt;
  settings.events.emit({
    type: "call.end",
    call: record,
    end: {
      decision,
      code: error === null ? null : isFalgateError(error) ? error.code : "internal_error",
      status: reply.status,
      bytesIn: 0,
      bytesOut: reply.body === null ? 0 : new TextEncoder().encode(reply.body).byteLength,
      requestId: null,
      billableUnits: null,
      error: null,
      totalMs: ms,
      falgateMs: ms,
      upstreamMs: 0,
    },
  });
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return "/";
  }
}
