// What runtime bindings and adapters need from the core: the decision, the forward plan, replies, the tunnel.
// Apps use the root entry ("@falgate/core"); this entry may change between minor versions.
import { BINDING, createFalgate, type Falgate, type FalgateBinding } from "./instance.js";
import type { FalgateOptions } from "./types.js";

export type { Emitter } from "./events/emitter.js";
export { BINDING, type FalgateBinding } from "./instance.js";
export {
  type Admission,
  type AdmitRequest,
  type CallOutcome,
  createLimiter,
  type Limiter,
  type LimiterContext,
  type LimitKind,
  type Reservation,
} from "./limits/index.js";
export { envRule } from "./options/env.js";
export type { Settings } from "./options/resolve.js";
export { classifyTarget, type FalTarget } from "./policy/index.js";
export type { Decision } from "./proxy/decide.js";
export { forwardWithFetch, Prefix } from "./proxy/fetch.js";
export {
  connectionTokens,
  DECODED_ACCEPT_ENCODING,
  isDecodedEncoding,
  relaysResponseHeader,
} from "./proxy/headers.js";
export { bodyTooLarge, type CallInput, readStream, webInput } from "./proxy/input.js";
export { isProxyMethod, methodNotAllowed, PROXY_METHODS } from "./proxy/methods.js";
export { type FailureState, type ForwardOutcome, type ForwardPlan, truncationCode } from "./proxy/plan.js";
export { errorReply, errorResponse, jsonReply, type Reply, toResponse } from "./proxy/reply.js";
export {
  type Cell,
  type CellTable,
  checkStoreTimeout,
  createCellStore,
  runStoreOp,
  type StoreOp,
  type StoreOpResults,
  storeOpKeys,
  withStoreTimeout,
} from "./store/index.js";
export {
  CloseCode,
  checkTunnelOrigin,
  createRelay,
  mapCloseCode,
  type Relay,
  type RelayPeer,
  refusalFor,
  TOKEN_PARAM,
  type TunnelDecision,
  type TunnelGate,
  type TunnelLimits,
  type TunnelRefusal,
  type UpstreamTarget,
  upgradeOnly,
} from "./tunnel/index.js";

/** The binding interface of an instance (what adapters and runtime bindings drive). */
export function bindingOf<C extends object>(falgate: Falgate<C>): FalgateBinding<C> {
  const binding = (falgate as Partial<Falgate<C>> | null)?.[BINDING];
  if (binding === undefined) {
    throw new TypeError("falgate: expected an instance created by createFalgate()");
  }
  return binding;
}

/** True when `value` is an instance created by `createFalgate` (adapters accept an instance or options). */
export function isFalgate<C extends object>(
  value: Falgate<C> | FalgateOptions<C> | undefined,
): value is Falgate<C> {
  return typeof value === "object" && value !== null && BINDING in value;
}

/** The instance itself, or a new one created from options (what adapters accept). */
export function toFalgate<C extends object>(value: Falgate<C> | FalgateOptions<C> = {}): Falgate<C> {
  return isFalgate(value) ? value : createFalgate<C>(value);
}
