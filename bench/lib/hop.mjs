// Hop-by-hop headers (RFC 9110 §7.6.1): what the bench's own bare proxies drop in both directions.
export const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "te",
  "trailer",
];
