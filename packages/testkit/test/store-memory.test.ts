import { createMemoryStore } from "@falgate/core";
import { describeStore } from "../src/store-suite.js";

// The reference implementation: one process, so every "instance" shares the one store object.
describeStore("memory", async () => {
  const store = createMemoryStore();
  return { connect: () => store, reset: async () => {}, close: async () => {} };
});
