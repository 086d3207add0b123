/**
 * Connection limits of the gateway's public port (break17 F3). Without them one unauthenticated
 * client held every socket and file descriptor (1,100 kept-alive connections, each kept by a
 * `GET /health` a minute), and every other client's request was reset. Three bounds:
 * - a total (`server.maxConnections`, GATEWAY_MAX_CONNECTIONS): Node closes a connection over it at
 *   once, before any byte is read, so the process keeps fds for its Redis and upstream sockets;
 * - per client address (GATEWAY_MAX_CONNECTIONS_PER_ADDRESS): the TCP peer's, since a connection
 *   is refused before any header (X-Forwarded-For) is read, an IPv6 peer's /64 (client-address.ts);
 *   a trusted proxy (GATEWAY_TRUST_PROXY) speaks for many clients and is capped by the total only;
 * - a short keep-alive idle timeout (GATEWAY_KEEP_ALIVE_TIMEOUT_MS, server.ts `keepAliveTimeoutMs`).
 * Each refusal is counted in `ordersaga_gateway_connections_refused_total` by `reason`.
 */
import { readFileSync } from "node:fs";
import { BlockList, isIP, type Server, type Socket } from "node:net";
import { Counter, Gauge, type Registry } from "prom-client";
import { clientAddressKey } from "./client-address.js";

/** Per-address default: far above what a browser (6) or a client's pool needs, far below the fds. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;
/** The total when the fd limit cannot be read (not Linux). */
export const FALLBACK_MAX_CONNECTIONS = 4_096;
/** Idle time (ms) after which the gateway closes a kept-alive client socket: 5 s (Fastify's 72 s). */
export const GATEWAY_KEEP_ALIVE_TIMEOUT_MS = 5_000;

/**
 * The default total: half the process's soft open-files limit (`ulimit -n`, read from
 * /proc/self/limits), the other half left for Redis, upstream pools (up to 128 per instance) and
 * files; FALLBACK_MAX_CONNECTIONS when it cannot be read; at least 64.
 */
export function defaultMaxConnections(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return FALLBACK_MAX_CONNECTIONS;
    }
  }
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(text)?.[1];
  if (soft === undefined || soft === "unlimited") return FALLBACK_MAX_CONNECTIONS;
  return Math.max(64, Math.floor(Number(soft) / 2));
}

export interface ConnectionLimits {
  /** Connections open at once in total; 0: no limit. */
  maxConnections: number;
  /** Connections open at once from one peer address; 0: no limit. */
  maxPerAddress: number;
  /** A peer address not capped per address (a trusted proxy). */
  exempt?: (address: string) => boolean;
}

/**
 * Applies `limits` to `server` and registers the refusal counter and an open-connections gauge
 * (`ordersaga_gateway_open_connections`) on `registry`.
 */
export function installConnectionLimits(server: Server, limits: ConnectionLimits, registry: Registry): void {
  const refused = new Counter({
    name: "ordersaga_gateway_connections_refused_total",
    help: "Client connections the gateway closed at once: reason total (GATEWAY_MAX_CONNECTIONS) or per_address (GATEWAY_MAX_CONNECTIONS_PER_ADDRESS)",
    labelNames: ["reason"],
    registers: [registry],
  });
  refused.inc({ reason: "total" }, 0);
  refused.inc({ reason: "per_address" }, 0);
  let open = 0;
  new Gauge({
    name: "ordersaga_gateway_open_connections",
    help: "Client connections open on the gateway's port",
    registers: [registry],
    collect() {
      this.set(open);
    },
  });
  if (limits.maxConnections > 0) server.maxConnections = limits.maxConnections;
  server.on("drop", () => refused.inc({ reason: "total" }));
  const byAddress = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const peer = socket.remoteAddress ?? "";
    // A trusted proxy is matched by its own address, and not counted: the clients sharing its /64
    // are not capped by the proxy's connections. An IPv6 client is keyed by its /64
    // (client-address.ts), else it would open each connection from another address of it.
    const key =
      limits.maxPerAddress > 0 && !(limits.exempt?.(peer) ?? false) ? clientAddressKey(peer) : undefined;
    const count = key === undefined ? 0 : (byAddress.get(key) ?? 0) + 1;
    if (key !== undefined && count > limits.maxPerAddress) {
      refused.inc({ reason: "per_address" });
      socket.destroy();
      return;
    }
    open += 1;
    if (key !== undefined) byAddress.set(key, count);
    socket.once("close", () => {
      open -= 1;
      if (key === undefined) return;
      const left = (byAddress.get(key) ?? 1) - 1;
      if (left > 0) byAddress.set(key, left);
      else byAddress.delete(key);
    });
  });
}

const NAMED_RANGES: Record<string, readonly string[]> = {
  loopback: ["127.0.0.0/8", "::1/128"],
  linklocal: ["169.254.0.0/16", "fe80::/10"],
  uniquelocal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
};

/**
 * Whether a peer address is one of `trusted` (GATEWAY_TRUST_PROXY's parsed entries: addresses,
 * CIDRs, loopback/linklocal/uniquelocal); an IPv4 peer seen as `::ffff:a.b.c.d` on a `::` bind too.
 */
export function trustedPeer(trusted: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of trusted.flatMap((e) => NAMED_RANGES[e] ?? [e])) {
    const [address = "", bits] = entry.split("/");
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return (peer) => {
    const plain = peer.startsWith("::ffff:") && isIP(peer.slice(7)) === 4 ? peer.slice(7) : peer;
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 6 ? "ipv6" : "ipv4");
  };
}
