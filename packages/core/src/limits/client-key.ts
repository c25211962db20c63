/**
 * The key anonymous callers are counted against when the binding knows no address (the Next adapter, a binding
 * without `ip`): one bucket all of them share. It is also the anonymous principal's id.
 */
export const SHARED_CLIENT_KEY = "anonymous";

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;
/** Longest unparsable address kept as is (a key, not a log line). */
const MAX_RAW = 64;

/**
 * The principal id of an anonymous caller, from its address (after `trustProxy` has picked the client's): IPv4
 * as is (`ip:203.0.113.7`), IPv6 grouped by its /64 (`ip:2001:db8:1:2::/64`, since one host usually owns a
 * whole /64), IPv4-mapped IPv6 (`::ffff:203.0.113.7`) as the IPv4 it carries. Brackets and zone ids are dropped;
 * anything unparsable is used as given, lower-cased and cut at 64 characters.
 * @example
 * clientKey("2001:db8:1:2:aaaa::1") // "ip:2001:db8:1:2::/64"
 */
export function clientKey(ip: string): string {
  let address = String(ip).trim().toLowerCase();
  if (address.startsWith("[")) {
    const end = address.indexOf("]");
    if (end > 0) address = address.slice(1, end);
  }
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  const v4 = ipv4(address);
  if (v4) return `ip:${v4.join(".")}`;
  const groups = ipv6(address);
  if (!groups) return `ip:${address.slice(0, MAX_RAW)}`;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6]!, groups[7]!];
    return `ip:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `ip:${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

function ipv4(text: string): number[] | null {
  const match = IPV4.exec(text);
  if (!match) return null;
  const octets = match.slice(1).map(Number);
  return octets.every((n) => n <= 255) ? octets : null;
}

/** The eight 16-bit groups of an IPv6 address (`::` and an embedded IPv4 tail understood), or `null`. */
function ipv6(text: string): number[] | null {
  if (!text.includes(":")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = ipv4(piece);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (HEX_GROUP.test(piece)) {
        out.push(Number.parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}
