export {
  CloseCode,
  closeReason,
  falErrorFrame,
  isSendableCloseCode,
  mapCloseCode,
  refusalFor,
  type TunnelRefusal,
  unauthorizedFrame,
} from "./close.js";
export {
  checkTunnelOrigin,
  createTunnelGate,
  TOKEN_PARAM,
  type TunnelDecision,
  type TunnelGate,
  type UpstreamTarget,
  upgradeOnly,
} from "./gate.js";
export { resolveTunnelOptions, type TunnelInfo, type TunnelLimits, type TunnelOptions } from "./options.js";
export {
  createRelay,
  type Relay,
  type RelayEndInfo,
  type RelayEndReason,
  type RelayOptions,
  type RelayPeer,
} from "./relay.js";
