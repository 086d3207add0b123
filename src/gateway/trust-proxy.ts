/**
 * GATEWAY_TRUST_PROXY: which peers may tell the gateway the client's address in X-Forwarded-For.
 *
 * The failed-authentication throttle (auth-throttle.ts) counts per client address, Fastify's
 * `request.ip`. Behind a load balancer that is the balancer's address for every client, so one
 * client sending a wrong key locked every client out. Listing the balancer here makes `request.ip`
 * the address the balancer saw (the rightmost X-Forwarded-For entry not itself a listed proxy).
 *
 * Only addresses are accepted, never a hop count or "trust everything": X-Forwarded-For is written
 * by whoever sends the request, so it may be believed only when the TCP peer is a known proxy. A
 * hop count cannot tell a proxy from a client that reaches the gateway directly (Fastify 5 trusts no
 * hop count for that reason), and `true` would let any client pick its own address, dodging the
 * throttle by sending a new one with every guess.
 */
import { isIP } from "node:net";

/** Ranges @fastify/proxy-addr knows by name (127.0.0.0/8 and ::1; 169.254/16 and fe80::/10; RFC 1918 and fc00::/7). */
export const TRUST_PROXY_NAMES = ["loopback", "linklocal", "uniquelocal"] as const;

/** Values that mean "trust no proxy" (the default): X-Forwarded-For is ignored, the peer is the client. */
const OFF = new Set(["", "off", "false", "none"]);

/**
 * The trusted proxies in `value`, for Fastify's `trustProxy`: a comma-separated list of IP addresses
 * (`10.0.0.7`, `fd00::7`), CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or the names in TRUST_PROXY_NAMES;
 * empty or `off` (the default): none. Throws an Error whose message says what is wrong with which
 * entry, fit for one line after the variable's name: a hop count, `true`/`*`, a range of every
 * address (`/0`), anything that is not an address.
 */
export function parseTrustProxy(value: string): string[] {
  const trimmed = value.trim();
  if (OFF.has(trimmed.toLowerCase())) return [];
  if (/^\d+$/.test(trimmed)) {
    throw new Error(
      `a hop count (${trimmed}) is not accepted: it cannot tell a proxy from a client that connects ` +
        "directly and sends its own X-Forwarded-For; list the proxies' addresses or CIDRs (e.g. 10.0.0.0/8)",
    );
  }
  if (["true", "*", "all"].includes(trimmed.toLowerCase())) {
    throw new Error(
      `"${trimmed}" would believe any client's X-Forwarded-For (a client could pick its address to dodge ` +
        "the failed-login throttle); list the proxies' addresses or CIDRs (e.g. 10.0.0.0/8)",
    );
  }
  // Blanks are skipped, as in GATEWAY_API_KEYS (a trailing comma is harmless).
  const entries = trimmed
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  return entries.map((entry) => {
    const problem = entryProblem(entry);
    if (problem !== undefined) {
      throw new Error(
        `${JSON.stringify(entry)} ${problem}: use IP addresses, CIDRs (10.0.0.0/8) or ` +
          `${TRUST_PROXY_NAMES.join("/")}, comma-separated, or off`,
      );
    }
    return TRUST_PROXY_NAMES.includes(entry.toLowerCase() as (typeof TRUST_PROXY_NAMES)[number])
      ? entry.toLowerCase()
      : entry;
  });
}

/** Why `entry` is not a proxy address Fastify can compile, or undefined when it is one. */
function entryProblem(entry: string): string | undefined {
  if (TRUST_PROXY_NAMES.includes(entry.toLowerCase() as (typeof TRUST_PROXY_NAMES)[number])) return undefined;
  const slash = entry.indexOf("/");
  const address = slash === -1 ? entry : entry.slice(0, slash);
  // A zone id (fe80::1%eth0) is something node:net takes but the proxy matcher does not.
  const family = address.includes("%") ? 0 : isIP(address);
  if (family === 0) return "is not an IP address";
  if (slash === -1) return undefined;
  const prefix = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
    return `has a prefix length that is not a whole number from 1 to ${max}`;
  }
  if (Number(prefix) === 0) return "is every address (it would believe any client's X-Forwarded-For)";
  return undefined;
}
