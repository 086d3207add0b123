/**
 * The key a per-client-address limit counts by (edge20). An IPv6 client normally holds a whole /64
 * (RFC 6177, RFC 7421: providers hand out a /64 or larger; SLAAC and privacy addresses rotate inside
 * it), so keyed by its full address it could take a fresh address for every guess or connection and
 * escape every per-address limit. An IPv6 address is therefore keyed by its /64 prefix, an IPv4
 * address (also one written IPv4-mapped, `::ffff:a.b.c.d`, as a dual-stack socket reports it) by
 * the whole address. Every spelling of one /64 (compressed or not, upper case, a zone id `%eth0`,
 * an embedded dotted quad) gives the same key.
 */
import { isIP } from "node:net";

/**
 * `a.b.c.d` for an IPv4 address (or an IPv4-mapped IPv6 one), `xxxx:xxxx:xxxx:xxxx::/64` (four
 * zero-padded lower-case groups) for any other IPv6 address; anything that is not an IP address
 * (an empty remote address of a socket already closed) is returned as it is.
 */
export function clientAddressKey(address: string): string {
  const zone = address.indexOf("%");
  const plain = (zone === -1 ? address : address.slice(0, zone)).toLowerCase();
  const family = isIP(plain);
  if (family === 4) return plain;
  if (family !== 6) return address;
  const groups = expand(plain);
  // ::ffff:0:0/96 is an IPv4 peer on a dual-stack socket: the same client as its IPv4 address.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join(".");
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16).padStart(4, "0"))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`isIP` checked it), `::` and a dotted tail expanded. */
function expand(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => {
          if (!group.includes(".")) return [parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const gap = address.indexOf("::");
  if (gap === -1) return parse(address);
  const head = parse(address.slice(0, gap));
  const tail = parse(address.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}
