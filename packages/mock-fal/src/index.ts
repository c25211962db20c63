export { createMockWebSocket, type FetchFunction, type MockWebSocketClass, mockFalFetch } from "./client.js";
export { FAL_HOSTS, UPSTREAM_HOST_HEADER } from "./hosts.js";
export { startMockFal } from "./server.js";
export { DEFAULT_KEY } from "./state.js";
export type {
  BillableCall,
  BillableUnits,
  FalHost,
  FaultKind,
  FaultMatch,
  FaultSpec,
  JsonValue,
  MockFal,
  MockFalOptions,
  MockFetch,
  MockLogger,
  MockTokenClaims,
  MockWebhookOptions,
  RecordedFrame,
  RecordedRequest,
  StoredFile,
  WebhookAttempt,
  WebhookSignInit,
} from "./types.js";
