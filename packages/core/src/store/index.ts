export {
  type Cell,
  type CellTable,
  createCellStore,
  runStoreOp,
  type StoreOp,
  type StoreOpResults,
  storeOpKeys,
} from "./engine.js";
export { createMemoryStore, type MemoryStoreOptions } from "./memory.js";
export { checkStoreTimeout, withStoreTimeout } from "./timeout.js";
export type { AdmitPlan, AdmitResult, SettlePlan, Store, WindowState } from "./types.js";
