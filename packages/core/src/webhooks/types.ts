import type { Store } from "../store/types.js";
import type { FetchLike, Logger } from "../types.js";

/** Fields every fal webhook body carries. */
interface FalWebhookBase {
  /** The queue request id (the one `fal.queue.submit` answered). */
  request_id: string;
  /**
   * The id of the last attempt when fal retried the request internally; equal to `request_id` otherwise (and when
   * fal did not send it).
   */
  gateway_request_id: string;
}

/** A request that completed: `payload` is the app's output (`null` with `payload_error` when it was not JSON). */
export interface FalWebhookSuccess<T = unknown> extends FalWebhookBase {
  status: "OK";
  payload: T | null;
  /** Set when fal could not serialise the output as JSON (`payload` is then `null`). */
  payload_error?: string;
  error?: null;
}

/** A request that failed: `error` says why and `payload` carries the details (e.g. a 422 `{detail}`). */
export interface FalWebhookFailure extends FalWebhookBase {
  status: "ERROR";
  /** fal's message, e.g. `"Invalid status code: 422"`. */
  error: string;
  payload: unknown;
  payload_error?: string;
}

/**
 * The body fal POSTs to a `fal_webhook` URL (PROTOCOL.md §5). `T` is the app's output type; it is not checked,
 * only the envelope (`request_id`, `status`) is.
 */
export type FalWebhookPayload<T = unknown> = FalWebhookSuccess<T> | FalWebhookFailure;

/** Options of {@link verifyFalWebhook} and {@link createFalWebhookVerifier}; every field has a default. */
export interface FalWebhookOptions {
  /**
   * The JSON Web Key Set with fal's webhook signing keys (OKP Ed25519). Must be `https:`, except on loopback
   * (`http://127.0.0.1:4010/.well-known/jwks.json` from mock-fal).
   * @default "https://rest.fal.ai/.well-known/jwks.json"
   */
  jwksUrl?: string;
  /** Largest accepted distance between `x-fal-webhook-timestamp` and the clock, in seconds (1..3600). @default 300 */
  tolerance?: number;
  /**
   * Where verified deliveries are remembered so a captured request cannot be replayed. Share one store between
   * instances (`@falgate/redis`) to refuse a replay on any of them.
   * @default one in-memory store shared by every verifier of the process
   */
  store?: Pick<Store, "addOnce">;
  /** The transport used to fetch the key set. @default globalThis.fetch */
  fetch?: FetchLike;
  /** The clock in ms since the epoch (tests). @default Date.now */
  now?: () => number;
  /** Largest webhook body in bytes; a larger one is refused before it is read in full. @default 33_554_432 (32 MiB) */
  maxBodySize?: number;
  /**
   * Longest time a fetched key set is used before it is fetched again, in seconds (60..86400). A shorter
   * `cache-control: max-age` from the key set's server wins, down to 60 s.
   * @default 86_400 (24 h)
   */
  jwksMaxAge?: number;
  /**
   * Shortest time between two fetches of the key set, in seconds: when no key verifies a signature, or the key set
   * is unreachable, it is fetched again at most this often (0..3600).
   * @default 60
   */
  jwksCooldown?: number;
  /** Timeout of one key set fetch, in ms. @default 10_000 */
  jwksTimeout?: number;
  /**
   * Where key set fetch failures (`warn`) and replay store failures (`error`) are reported; refused webhooks are
   * not logged (they answer 401 with the reason). Never given secrets.
   * @default console-backed warn/error logger
   */
  logger?: Logger;
}

/** A reusable verifier: options validated once, key set cache and replay store shared by every call. */
export type FalWebhookVerifier = <T = unknown>(request: Request) => Promise<FalWebhookPayload<T>>;
