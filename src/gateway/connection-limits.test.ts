import { EventEmitter } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../lib/observability/logger.js";
import { createMemoryPlatform, type Platform } from "../lib/runtime/platform.js";
import { waitFor } from "../test-support/wait.js";
import { defaultMaxConnections, installConnectionLimits, trustedPeer } from "./connection-limits.js";
import { createGateway, type Gateway, type GatewayOptions } from "./gateway.js";

// break17 F3: one unauthenticated client held every gateway socket with kept-alive GET /health.

let gateway: Gateway | undefined;
let platform: Platform | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await gateway?.stop();
  await platform?.close();
  gateway = undefined;
  platform = undefined;
});

async function start(options: Partial<GatewayOptions>): Promise<Gateway> {
  platform = createMemoryPlatform();
  gateway = await createGateway({
    platform,
    port: 0,
    logger: createLogger({ service: "gateway", level: "silent" }),
    healthCheckIntervalMs: 0,
    ...options,
  });
  return gateway;
}

interface Client {
  socket: Socket;
  /** Everything read so far. */
  text: () => string;
  closed: Promise<void>;
}

/** A raw kept-alive connection from 127.0.0.1 that sends GET /health once connected. */
function client(port: number): Client {
  const socket = connect(port, "127.0.0.1");
  sockets.push(socket);
  let text = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (text += chunk));
  socket.on("error", () => undefined);
  socket.on("connect", () =>
    socket.write("GET /health HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive\r\n\r\n"),
  );
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  return { socket, text: () => text, closed };
}

const answered = (c: Client) => /^HTTP\/1\.1 200 /.test(c.text()) && c.text().includes('"status"');

async function refusedCount(reason: string): Promise<number> {
  const text = await gateway!.metrics.registry.metrics();
  const line = text
    .split("\n")
    .find((l) => l.startsWith("ordersaga_gateway_connections_refused_total{") && l.includes(`"${reason}"`));
  return Number(line?.split(" ").pop());
}

describe("gateway connection limits", () => {
  it("closes a connection over the per-address cap at once and counts it; the others are served", async () => {
    const gw = await start({ maxConnectionsPerAddress: 3 });
    const held = [client(gw.port), client(gw.port), client(gw.port)];
    await waitFor(() => held.every(answered), 10_000, "three kept-alive answers");
    const over = client(gw.port);
    await over.closed;
    expect(over.text()).toBe("");
    expect(await refusedCount("per_address")).toBe(1);
    // The held ones still work; one released makes room for a new one.
    held[0]!.socket.destroy();
    await held[0]!.closed;
    const next = client(gw.port);
    await waitFor(() => answered(next), 10_000, "a connection once one was released");
  });

  it("refuses connections over the total cap (GATEWAY_MAX_CONNECTIONS) and counts them", async () => {
    const gw = await start({ maxConnections: 2, maxConnectionsPerAddress: 0 });
    const held = [client(gw.port), client(gw.port)];
    await waitFor(() => held.every(answered), 10_000, "two kept-alive answers");
    const over = client(gw.port);
    await over.closed;
    expect(over.text()).toBe("");
    expect(await refusedCount("total")).toBe(1);
  });

  it("does not cap a trusted proxy's address per address (it speaks for many clients)", async () => {
    const gw = await start({ maxConnectionsPerAddress: 1, trustProxy: ["127.0.0.1"] });
    const held = [client(gw.port), client(gw.port), client(gw.port)];
    await waitFor(() => held.every(answered), 10_000, "three answers through the proxy");
    expect(await refusedCount("per_address")).toBe(0);
  });

  it("closes an idle kept-alive socket after 5 s by default and says so in Keep-Alive", async () => {
    const gw = await start({});
    const idle = client(gw.port);
    await waitFor(() => answered(idle), 10_000, "the answer");
    expect(idle.text().toLowerCase()).toContain("keep-alive: timeout=5");
    const answeredAt = performance.now();
    await idle.closed;
    // Node checks keep-alive timeouts on the socket's own timer: closed near 5 s, far from 72 s.
    expect(performance.now() - answeredAt).toBeLessThan(5_000 + 3_000);
  }, 20_000);
});

// edge20: an IPv6 client holds a whole /64 and opened each connection from another address of it.
// This host cannot be the peer at several addresses of one /64 (only ::1 and one address per
// interface; adding addresses needs root), so the connections are handed to the server as the
// kernel would: a "connection" event with the peer's address.
describe("the per-address cap on IPv6 peers", () => {
  /** A stand-in for an accepted socket from `remoteAddress`: the parts the limiter uses. */
  const peer = (remoteAddress: string) => {
    const socket = Object.assign(new EventEmitter(), { remoteAddress, destroyed: false });
    return Object.assign(socket, {
      destroy: () => {
        socket.destroyed = true;
        socket.emit("close");
      },
    });
  };
  const limited = (trusted: string[] = []) => {
    const server = createServer();
    installConnectionLimits(
      server,
      { maxConnections: 0, maxPerAddress: 2, exempt: trustedPeer(trusted) },
      new Registry(),
    );
    return (address: string) => {
      const socket = peer(address);
      server.emit("connection", socket as unknown as Socket);
      return socket;
    };
  };

  it("counts every address of one /64 as one client; another /64 has its own cap", () => {
    const accept = limited();
    const held = [accept("2001:db8:a:b::1"), accept("2001:db8:a:b::2")];
    expect(held.map((s) => s.destroyed)).toEqual([false, false]);
    expect(accept("2001:db8:a:b:ffff::3%eth0").destroyed).toBe(true);
    expect(accept("2001:db8:a:c::1").destroyed).toBe(false);
    // One closed makes room for another address of the same /64.
    held[0]!.destroy();
    expect(accept("2001:DB8:A:B::99").destroyed).toBe(false);
  });

  it("counts an IPv4-mapped peer with its IPv4 address, and never caps a trusted proxy in a /64", () => {
    const accept = limited(["2001:db8:a:b::1"]);
    expect(accept("203.0.113.5").destroyed).toBe(false);
    expect(accept("::ffff:203.0.113.5").destroyed).toBe(false);
    expect(accept("203.0.113.5").destroyed).toBe(true);
    for (let i = 0; i < 4; i += 1) expect(accept("2001:db8:a:b::1").destroyed).toBe(false);
    // The proxy's neighbours in its /64 are not the proxy: they are capped (and not by its count).
    expect(accept("2001:db8:a:b::2").destroyed).toBe(false);
    expect(accept("2001:db8:a:b::3").destroyed).toBe(false);
    expect(accept("2001:db8:a:b::4").destroyed).toBe(true);
  });
});

describe("defaultMaxConnections", () => {
  it("is half the soft open-files limit, a fallback when it is unlimited or unreadable", () => {
    const limits = (soft: string) =>
      `Limit                     Soft Limit           Hard Limit           Units\n` +
      `Max open files            ${soft}                 1048576              files\n`;
    expect(defaultMaxConnections(limits("20000"))).toBe(10_000);
    expect(defaultMaxConnections(limits("100"))).toBe(64);
    expect(defaultMaxConnections(limits("unlimited"))).toBe(4_096);
    expect(defaultMaxConnections("garbage")).toBe(4_096);
  });
});

describe("trustedPeer", () => {
  it("matches addresses, CIDRs, named ranges and IPv4-mapped peers", () => {
    const trusted = trustedPeer(["10.0.0.0/8", "192.168.7.7", "loopback", "fd00::/8"]);
    expect(trusted("10.1.2.3")).toBe(true);
    expect(trusted("::ffff:192.168.7.7")).toBe(true);
    expect(trusted("127.0.0.1")).toBe(true);
    expect(trusted("::1")).toBe(true);
    expect(trusted("fd00::7")).toBe(true);
    expect(trusted("192.168.7.8")).toBe(false);
    expect(trusted("203.0.113.9")).toBe(false);
    expect(trusted("")).toBe(false);
  });
});
