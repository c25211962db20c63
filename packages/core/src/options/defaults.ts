/**
 * Every default of falgate's core, in one place. Docs, validation and bindings read them from here; nothing else
 * hard-codes a default value.
 */
export const DEFAULTS = Object.freeze({
  /** Where the proxy is mounted; the realtime tunnel listens below it. */
  path: "/api/fal/proxy",
  /** Largest request body in bytes (32 MiB). */
  maxBodySize: 32 * 1024 * 1024,
  /** Trust `x-forwarded-*` headers for the request URL and the client address. */
  trustProxy: false,
  timeouts: Object.freeze({
    /** Opening a connection to fal (TCP + TLS), ms. Bindings that dial themselves (Node) apply it. */
    connect: 10_000,
    /** From sending the request until fal answers with headers, ms. */
    headers: 300_000,
    /** Longest wait on fal for the next chunk of a streamed answer, ms. */
    idle: 60_000,
  }),
  cors: Object.freeze({ credentials: true, maxAge: 600 }),
  /** Largest `token_expiration` (seconds) a browser may ask fal for. */
  falTokenMaxExpiration: 120,
  tokens: Object.freeze({
    issuer: "falgate",
    audience: "falgate:realtime",
    /** Lifetime of a minted falgate token, seconds. */
    ttl: 60,
    /** Oldest `iat` accepted, seconds. */
    maxTokenAge: 300,
    /** Clock skew tolerated, seconds. */
    clockTolerance: 5,
    singleUse: true,
  }),
  /** Logs and traces (`createLineLogger`, `createAccessLog`, `createTracing`). */
  observe: Object.freeze({
    /** Lines of `createLineLogger`: `pretty` (aligned, for a terminal) or `json` (one object per line). */
    logFormat: "pretty" as "pretty" | "json",
    /** Lowest level `createLineLogger` writes. */
    logLevel: "info" as "debug" | "info" | "warn" | "error",
    /** The instrumentation scope falgate's spans are created under. */
    tracerName: "@falgate/core",
  }),
  tunnel: Object.freeze({
    maxPayload: 16 * 1024 * 1024,
    maxQueuedMessages: 64,
    maxQueuedBytes: 8 * 1024 * 1024,
    idleTimeout: 300_000,
    maxSessionDuration: 3_600_000,
    pingInterval: 30_000,
    connectTimeout: 10_000,
    highWaterMark: 1024 * 1024,
    maxPerPrincipal: 5,
  }),
  /**
   * Rate limits, concurrency caps and budgets (`limits`): nothing is limited unless configured, but token mints
   * (`tokenRate`, per principal), so that no configuration never means one caller can mint without bound.
   */
  limits: Object.freeze({
    rate: false,
    /**
     * Token mints per principal when neither `limits.tokens.rate` nor `limits.rate` is set; not applied to the
     * `anonymous` key that anonymous callers without a known address share.
     */
    tokenRate: "60/min",
    maxConcurrent: 0,
    maxConcurrentTotal: 0,
    callTimeout: 900_000,
    queueTimeout: 1_800_000,
    tunnelTimeout: 3_900_000,
    budgetMode: "calendar",
    timeZone: "UTC",
    price: 1,
    onStoreError: "open",
    storeTimeout: 500,
    keyPrefix: "falgate:",
  } as const),
  /** `verifyFalWebhook`: fal's key set, the timestamp window (s), the key set cache (s) and fetch timeout (ms). */
  webhooks: Object.freeze({
    jwksUrl: "https://rest.fal.ai/.well-known/jwks.json",
    tolerance: 300,
    maxBodySize: 32 * 1024 * 1024,
    jwksMaxAge: 86_400,
    jwksCooldown: 60,
    jwksTimeout: 10_000,
  }),
});
