import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { driveOrders } from "./load-driver.js";

/**
 * A real HTTP server standing in for the gateway's POST /orders: `answer` decides per request,
 * given how many times its Idempotency-Key was seen before (0: first), whether to reset the
 * connection or answer 202. Orders are created once per key, as the order service does.
 */
async function orderServer(
  answer: (attemptOfKey: number, key: string | undefined) => "reset" | "accept",
  serverOptions: { keepAliveTimeout?: number } = {},
): Promise<{ url: string; requests: number; orders: Map<string, string>; connections: number }> {
  const state = { url: "", requests: 0, orders: new Map<string, string>(), connections: 0 };
  const attempts = new Map<string, number>();
  const server = createServer(serverOptions, (req: IncomingMessage, res: ServerResponse) => {
    state.requests++;
    const raw = req.headers["idempotency-key"];
    const key = typeof raw === "string" ? raw : undefined;
    const attempt = key === undefined ? 0 : (attempts.get(key) ?? 0);
    if (key !== undefined) attempts.set(key, attempt + 1);
    // The order is applied before the connection breaks: a resend must find it, not place another.
    const known = key === undefined ? undefined : state.orders.get(key);
    const orderId = known ?? `order-${state.requests}`;
    if (key !== undefined && known === undefined) state.orders.set(key, orderId);
    req.resume();
    if (answer(attempt, key) === "reset") {
      req.socket.resetAndDestroy();
      return;
    }
    res.writeHead(202, {
      "content-type": "application/json",
      ...(known === undefined ? {} : { "idempotent-replayed": "true" }),
    });
    res.end(JSON.stringify({ orderId, status: "pending" }));
  });
  server.on("connection", () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const body = JSON.stringify({ userId: "u1", items: [] });

describe("driveOrders: a connection reset on a POST", () => {
  it("resends a keyed order once with the same key; the replayed 202 counts one order, not a failure", async () => {
    const server = await orderServer((attempt) => (attempt === 0 ? "reset" : "accept"));
    const result = await driveOrders({
      gatewayUrl: server.url,
      body,
      ratePerSec: 20,
      durationSec: 0.5,
      idempotencyKeys: true,
    });
    expect(result.offered).toBe(10);
    expect(result.failures).toEqual({});
    expect(result.accepted).toBe(10);
    expect(result.placed.size).toBe(10);
    expect(result.resent).toBe(10);
    expect(result.replayed).toBe(10);
    // Two requests per order, one order per key: the resend placed nothing new.
    expect(server.requests).toBe(20);
    expect(new Set(server.orders.values()).size).toBe(10);
    expect([...result.placed.keys()].sort()).toEqual([...server.orders.values()].sort());
  });

  it("counts a keyed order whose resend is reset too as one failure", async () => {
    const server = await orderServer(() => "reset");
    const result = await driveOrders({
      gatewayUrl: server.url,
      body,
      ratePerSec: 20,
      durationSec: 0.25,
      idempotencyKeys: true,
    });
    expect(result.failures).toEqual({ ECONNRESET: 5 });
    expect(result.resent).toBe(5);
    expect(result.accepted).toBe(0);
    expect(server.requests).toBe(10);
  });

  it("never resends a keyless order (it may have been applied): the reset is its failure", async () => {
    const server = await orderServer((attempt, key) => (key === undefined ? "reset" : "accept"));
    const result = await driveOrders({ gatewayUrl: server.url, body, ratePerSec: 20, durationSec: 0.25 });
    expect(result.failures).toEqual({ ECONNRESET: 5 });
    expect(result.resent).toBe(0);
    expect(server.requests).toBe(5);
  });
});

describe("driveOrders: kept-alive sockets", () => {
  it("retires a free socket at the server's Keep-Alive hint rather than writing on it near the server's close", async () => {
    // keepAliveTimeout 3 s: the server says `timeout=3` and closes a socket idle 4 s (Node adds 1 s);
    // the hint retires it on the client at 2 s. Orders 3 s apart: the second gets a new connection.
    const server = await orderServer(() => "accept", { keepAliveTimeout: 3_000 });
    const result = await driveOrders({ gatewayUrl: server.url, body, ratePerSec: 1 / 3, durationSec: 6 });
    expect(result.accepted).toBe(2);
    expect(server.connections).toBe(2);
  }, 20_000);
});
