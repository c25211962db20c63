import { FalgateError } from "../errors.js";
import type { Settings } from "../options/resolve.js";
import type { FalgateEnv, Principal } from "../types.js";

// A key goes into an HTTP header: control characters or non-Latin-1 would make Headers throw with the key in the message.
const HEADER_SAFE = /^[\x20-\x7e\x80-\xff]+$/;

/** Resolves the fal key: option (string or resolver), then `FAL_KEY`, then `FAL_KEY_ID` + `FAL_KEY_SECRET`. */
export async function resolveKey(
  request: () => Request,
  env: FalgateEnv,
  principal: Principal,
  settings: Pick<Settings, "credentials">,
): Promise<string> {
  const { credentials } = settings;
  let key: unknown;
  if (typeof credentials === "function") key = await credentials({ request: request(), env, principal });
  else if (credentials !== undefined) key = credentials;
  else if (typeof env.FAL_KEY === "string" && env.FAL_KEY !== "") key = env.FAL_KEY;
  else if (
    typeof env.FAL_KEY_ID === "string" &&
    typeof env.FAL_KEY_SECRET === "string" &&
    env.FAL_KEY_ID &&
    env.FAL_KEY_SECRET
  ) {
    key = `${env.FAL_KEY_ID}:${env.FAL_KEY_SECRET}`;
  }
  if (typeof key !== "string" || key.trim() === "" || key === "undefined" || !HEADER_SAFE.test(key)) {
    throw new FalgateError(
      "missing_credentials",
      "The proxy has no usable fal key. Set FAL_KEY (or FAL_KEY_ID and FAL_KEY_SECRET) or the `credentials` option.",
    );
  }
  return key;
}
