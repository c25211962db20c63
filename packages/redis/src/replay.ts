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

// SET ... NX answers OK the first time and nil after; PXAT lets Redis forget the id when the token expires.
const CONSUME = `return redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', ARGV[1]) and 1 or 0`;

/** The shortest time an id is remembered, so a token at the edge of its expiry still cannot be reused. */
const MIN_REMEMBER_MS = 1000;

/**
 * A {@link ReplayStore} in Redis (`SET <prefix><jti> 1 NX PXAT <expiresAt>`), shared by every instance
 * that points at the same Redis: a token is accepted once across the cluster. Fails closed: when Redis
 * errors or does not answer within `timeoutMs`, `consume` rejects and falgate refuses the token.
 * Needs Redis >= 6.2 (PXAT).
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
      const at = Math.max(Math.ceil(expiresAt), now() + MIN_REMEMBER_MS);
      const reply = await withTimeout(
        client.eval(CONSUME, 1, prefix + jti, String(at)),
        timeoutMs,
        "replay check",
      );
      return Number(reply) === 1;
    },
  };
}
