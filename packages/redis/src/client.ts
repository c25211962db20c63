/**
 * The one command falgate needs from Redis: `EVAL script numkeys ...keys ...args`, shaped like ioredis
 * (`new Redis()` fits as is). Wrap a node-redis v4+ client with {@link fromNodeRedis}.
 */
export interface RedisEvalClient {
  eval(script: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  /** `EVALSHA`, when the client has it: the store then sends each script once, not on every call. */
  evalsha?(sha1: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
}

/** The part of a node-redis v4+ client (`createClient()` from `redis`) that {@link fromNodeRedis} uses. */
export interface NodeRedisEvalClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  evalSha?(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** Adapts a connected node-redis v4+ client to {@link RedisEvalClient}. */
export function fromNodeRedis(client: NodeRedisEvalClient): RedisEvalClient {
  const split = (numkeys: number, keysAndArgs: string[]) => ({
    keys: keysAndArgs.slice(0, numkeys),
    arguments: keysAndArgs.slice(numkeys),
  });
  const adapted: RedisEvalClient = {
    eval: (script, numkeys, ...keysAndArgs) => client.eval(script, split(numkeys, keysAndArgs)),
  };
  if (typeof client.evalSha === "function") {
    adapted.evalsha = (sha1, numkeys, ...keysAndArgs) => client.evalSha!(sha1, split(numkeys, keysAndArgs));
  }
  return adapted;
}

/** Checks the client shape once, at construction, so a wrong argument fails at startup, not per request. */
export function checkClient(client: RedisEvalClient, where: string): void {
  if (typeof (client as Partial<RedisEvalClient> | undefined)?.eval !== "function") {
    throw new TypeError(
      `falgate: ${where} needs a Redis client with an \`eval\` method (ioredis, or fromNodeRedis(client))`,
    );
  }
}
