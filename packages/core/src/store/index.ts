export { createMemoryStore, type MemoryStoreOptions, slide } from "./memory.js";
export type { Store, WindowState } from "./types.js";
