import type { ReplayStore } from "@falgate/core";
import { checkClient, checkTimeout, type RedisEvalClient, withTimeout } from "./client.js";

/** Options of {@link createRedisReplayStore}. */
export interface RedisReplayStoreOptions {
  /** Prefix of the keys (`<prefix><jti>`). @default "falgate:jti:" */
  prefix?: string;
  /** How long a Redis call may take before the token is refused. @default 2000 */
  timeoutMs?: number;
  /** The clock, in ms since the epoch (tests). @default Date.now */
  now?: () => number;
}

// SET ... NX answers OK the first time and nil after; PX (relative, so Redis's clock need not agree with ours)
// lets Redis forget the id once the token has expired.
const CONSUME = `return redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) and 1 or 0`;

/** The shortest time an id is remembered, so a token at the edge of its expiry still cannot be reused. */
const MIN_REMEMBER_MS = 1000;

/**
 * A {@link ReplayStore} in Redis (`SET <prefix><jti> 1 NX PX <ms until expiry>`), shared by every instance
 * that points at the same Redis: a token is accepted once across the cluster. Fails closed: when Redis
 * errors or does not answer within `timeoutMs`, `consume` rejects and falgate refuses the token.
 */
export function createRedisReplayStore(
  client: RedisEvalClient,
  options: RedisReplayStoreOptions = {},
): ReplayStore {
  checkClient(client, "createRedisReplayStore");
  const prefix = options.prefix ?? "falgate:jti:";
  const timeoutMs = options.timeoutMs ?? 2000;
  checkTimeout(timeoutMs, "createRedisReplayStore");
  const now = options.now ?? Date.now;
  return {
    async consume(jti, expiresAt) {
      const remember = Math.max(Math.ceil(expiresAt - now()), MIN_REMEMBER_MS);
      const reply = await withTimeout(
        client.eval(CONSUME, 1, prefix + jti, String(remember)),
        timeoutMs,
        "replay check",
      );
      return Number(reply) === 1;
    },
  };
}
