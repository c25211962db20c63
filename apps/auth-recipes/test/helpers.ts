import { ApiError, createFalClient, type FalClient } from "@fal-ai/client";
import { expect } from "vitest";

/**
 * The official `@fal-ai/client` as a signed-in browser page uses it: through the proxy, with the page's cookies
 * (a browser sends them itself) or a bearer token added by `requestMiddleware`, and `Sec-Fetch-Site` as a
 * same-origin page sends it.
 */
export function falAs(proxyUrl: string, headers: Record<string, string> = {}): FalClient {
  return createFalClient({
    proxyUrl: { url: proxyUrl, when: "always" },
    requestMiddleware: async (request) => ({
      ...request,
      headers: { ...(request.headers ?? {}), "sec-fetch-site": "same-origin", ...headers },
    }),
  });
}

/** Runs the mock's image app through the client; resolves with the prompt echoed back. */
export async function generate(fal: FalClient, prompt = "a lighthouse"): Promise<string> {
  const { data } = await fal.run("fal-ai/fast-sdxl", { input: { prompt } });
  return (data as { prompt: string }).prompt;
}

/** The `ApiError` the client throws for a refusal, with falgate's code. */
export async function refusedWith(promise: Promise<unknown>, status: number, code: string): Promise<void> {
  const error = await promise.then(
    () => {
      throw new Error("expected the call to be refused");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  expect((error as ApiError<unknown>).status).toBe(status);
  expect((error as ApiError<{ error: { code: string } }>).body.error.code).toBe(code);
}

/** The `name=value` pairs of a response's `Set-Cookie` headers, as a `Cookie` header. */
export function cookiesOf(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((line) => line.split(";")[0]!)
    .join("; ");
}
