export { fromNodeRedis, type NodeRedisEvalClient, type RedisEvalClient } from "./client.js";
export { createRedisTunnelCounter, type RedisTunnelCounterOptions } from "./counter.js";
export { createRedisReplayStore, type RedisReplayStoreOptions } from "./replay.js";
export { createRedisStore, type RedisStoreOptions } from "./store.js";
