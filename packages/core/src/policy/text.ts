/** Quotes untrusted input for an error message, cut to `max` characters so a hostile header is never echoed whole. */
export function snippet(value: string, max = 120): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut);
}
