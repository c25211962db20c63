// Small numeric helpers shared by the scenarios.

/** Sorted copy of `values` (a typed array sorts numerically). */
export function sorted(values) {
  return Float64Array.from(values).sort();
}

/** Nearest-rank percentile `p` (0..100) of an already sorted array. */
export function percentile(sortedValues, p) {
  if (sortedValues.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sortedValues.length) - 1;
  return sortedValues[Math.min(sortedValues.length - 1, Math.max(0, rank))];
}

/** p50 and p99 of a list of latencies (ms). */
export function latencySummary(latencies) {
  const s = sorted(latencies);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

/** Median of a list. */
export function median(values) {
  return percentile(sorted(values), 50);
}

/** `n` with `digits` significant-ish decimals for tables. */
export function fmt(n, digits = 2) {
  if (n === undefined || n === null || Number.isNaN(n)) return "–";
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString("en-US");
  return n.toFixed(digits);
}

/** Bytes as MiB with one decimal. */
export function mib(bytes) {
  return bytes === undefined ? "–" : (bytes / 1024 / 1024).toFixed(1);
}
