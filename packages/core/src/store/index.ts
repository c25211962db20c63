export { createMemoryStore, type MemoryStoreOptions, slide, windowWait } from "./memory.js";
export type { Store, WindowState } from "./types.js";
