/** An error as a person wants to read it: a short title and the detail. */
export interface ReadableError {
  title: string;
  detail: string;
}

const TITLES: Record<string, string> = {
  unauthenticated: "Signed out",
  endpoint_not_allowed: "Endpoint refused by policy",
  invalid_token: "Token refused",
  unauthorized: "Token refused",
  forbidden: "Not allowed",
  origin_not_allowed: "Origin refused",
  rate_limited: "Slow down",
  missing_credentials: "The proxy has no fal key",
  network_error: "Network error",
};

interface ErrorLike {
  message?: unknown;
  status?: unknown;
  body?: unknown;
  kind?: unknown;
  code?: unknown;
}

/**
 * Turns what `@fal-ai/client` (an `ApiError` carrying falgate's JSON body) or `@falgate/client` (a
 * `FalgateRealtimeError`) throws into a title and a sentence.
 */
export function describeError(error: unknown): ReadableError {
  const e = (error ?? {}) as ErrorLike;
  const status = typeof e.status === "number" ? e.status : undefined;
  const body = e.body as { error?: { code?: unknown; message?: unknown }; detail?: unknown } | undefined;
  const httpSuffix = status ? ` (HTTP ${status})` : "";
  if (body && typeof body === "object" && typeof body.error?.message === "string") {
    const code = String(body.error.code ?? "");
    return { title: TITLES[code] ?? code, detail: `${body.error.message}${httpSuffix}` };
  }
  if (body && typeof body === "object" && body.detail !== undefined) {
    const detail = Array.isArray(body.detail)
      ? body.detail
          .map((d: { msg?: string; loc?: unknown[] }) => `${(d.loc ?? []).join(".")}: ${d.msg}`)
          .join("; ")
      : String(body.detail);
    return { title: "fal refused the request", detail: `${detail}${httpSuffix}` };
  }
  if (typeof e.kind === "string" && typeof e.code === "string") {
    return { title: TITLES[e.code] ?? TITLES[e.kind] ?? "Realtime error", detail: String(e.message) };
  }
  return { title: "Error", detail: typeof e.message === "string" ? e.message : String(error) };
}
