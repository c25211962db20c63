export { fromNodeRedis, type NodeRedisEvalClient, type RedisEvalClient } from "./client.js";
export { createRedisStore, type RedisStoreOptions } from "./store.js";
