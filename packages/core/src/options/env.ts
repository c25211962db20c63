import type { FalgateEnv } from "../types.js";

/**
 * The one env rule: `options.env` layered over the platform's env (`process.env`, Worker bindings, `c.env`). A name
 * set in `options.env` wins; every other name is read live from the platform env (a prototype link, not a copy, so a
 * value set after start-up counts). Returns a function from the platform env of a request to the env falgate reads;
 * the layer is built once per platform env object.
 */
export function envRule(overrides: FalgateEnv | undefined): (platform: object | undefined) => FalgateEnv {
  const empty: FalgateEnv = Object.freeze({});
  if (overrides === undefined) return (platform) => (platform as FalgateEnv | undefined) ?? empty;
  const top = { ...overrides };
  const alone: FalgateEnv = Object.freeze(top);
  const layers = new WeakMap<object, FalgateEnv>();
  return (platform) => {
    if (platform === undefined || platform === null) return alone;
    let layered = layers.get(platform);
    if (layered === undefined) {
      layered = Object.assign(Object.create(platform) as FalgateEnv, top);
      layers.set(platform, layered);
    }
    return layered;
  };
}
