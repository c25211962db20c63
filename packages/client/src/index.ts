export {
  classifyFrame,
  decodeMessage,
  encodeMessage,
  type RealtimeEncoding,
  type ServerFrame,
} from "./codec.js";
export {
  FalgateRealtimeError,
  isFalgateRealtimeError,
  type RealtimeErrorDetails,
  type RealtimeErrorKind,
} from "./errors.js";
export {
  type ConnectRealtimeOptions,
  connectRealtime,
  type RealtimeConnection,
  type RealtimeState,
  type ReconnectOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./realtime.js";
export {
  createTokenProvider,
  type FetchLike,
  type TokenProvider,
  type TokenProviderOptions,
} from "./token.js";
export { DEFAULT_PROXY_URL, realtimeAppPath, resolveProxyUrl, TOKEN_PARAM, tunnelUrl } from "./url.js";
