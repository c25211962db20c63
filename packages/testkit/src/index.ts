export { CHROMIUM_PATH, launchChromium } from "./browser.js";
export { buildPackages, REPO_ROOT } from "./build.js";
export {
  ALLOWED_ENDPOINTS,
  ALLOWED_ORIGIN,
  type ConformanceCheck,
  type ConformanceConfig,
  type ConformanceOptions,
  conformanceOptions,
  describeConformance,
  type HandlerUnderTest,
  SAME_ORIGIN,
  type StartHandler,
} from "./conformance.js";
export {
  CUT_DECLARED,
  CUT_SENT,
  type CuttingUpstream,
  startCuttingUpstream,
} from "./cut-upstream.js";
export { describeFalClient, falClientThrough } from "./fal-client.js";
export {
  type Answer,
  firstGzippedEvent,
  type OpenResponse,
  open,
  type RawAnswer,
  readAll,
  readUntil,
  type SendOptions,
  send,
  sendRaw,
} from "./http.js";
export { type ChildServer, type ChildServerOptions, freePort, startChildServer } from "./process.js";
export { startRedis, type TestRedis } from "./redis-server.js";
export { fetchListener, listen, silentLogger } from "./server.js";
export { describeStore, type StoreUnderTest } from "./store-suite.js";
export {
  describeTunnelConformance,
  type TunnelCheck,
  type TunnelConformanceConfig,
  type TunnelConformanceOptions,
  type TunnelUnderTest,
} from "./tunnel-conformance.js";
export {
  bundleWorker,
  type RunningWorker,
  startWorker,
  WORKER_COMPATIBILITY,
  WORKERD_ABORT_SKIP,
  WORKERD_TRUNCATION_SKIP,
} from "./workerd.js";
export { type Frame, type OpenSocket, openSocket } from "./ws.js";
