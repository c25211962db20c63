export {
  CloseCode,
  type TunnelRefusal,
  closeReason,
  falErrorFrame,
  isSendableCloseCode,
  mapCloseCode,
  refusalFor,
  unauthorizedFrame,
} from "./close.js";
export { type TunnelCounter, createMemoryTunnelCounter } from "./counter.js";
export {
  type RealtimeOptions,
  TOKEN_PARAM,
  type TunnelDecision,
  type TunnelGate,
  type UpstreamTarget,
  checkTunnelOrigin,
  createTunnelGate,
} from "./gate.js";
export { DEFAULT_TUNNEL_PATH, type TunnelInfo, type TunnelLimits, type TunnelOptions, resolveTunnelOptions } from "./options.js";
export { type Relay, type RelayEndInfo, type RelayEndReason, type RelayOptions, type RelayPeer, createRelay } from "./relay.js";
