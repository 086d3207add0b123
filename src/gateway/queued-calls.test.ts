import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryServiceRegistry } from "../lib/discovery/memory-registry.js";
import type { ServiceInstance } from "../lib/discovery/types.js";
import { TimeoutError } from "../lib/resilience/errors.js";
import { waitFor } from "../test-support/wait.js";
import { UpstreamProxy } from "./proxy.js";

// break-gw F2: calls that timed out waiting for a connection stayed in undici's queue; each later
// took a connection only to abort it (destroying a keep-alive socket), and live calls waited behind.

const opened: { server: Server; proxy: UpstreamProxy }[] = [];

afterEach(async () => {
  for (const { server, proxy } of opened.splice(0)) {
    await proxy.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe("calls waiting for a connection to an instance", () => {
  it("never take a connection once their budget ran out: the keep-alive sockets survive them", async () => {
    const seen: string[] = [];
    const held: ServerResponse[] = [];
    let connections = 0;
    const server = createServer((req, res) => {
      seen.push(req.url ?? "");
      if (req.url === "/hold") held.push(res);
      else res.end("ok");
    });
    server.on("connection", () => connections++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const proxy = new UpstreamProxy({ registry: new MemoryServiceRegistry(), connectionsPerInstance: 2 });
    opened.push({ server, proxy });
    const at = new Date().toISOString();
    const instance: ServiceInstance = {
      service: "inventory",
      instanceId: "inv-a",
      address: "127.0.0.1",
      port: (server.address() as AddressInfo).port,
      version: "1.0.0",
      startedAt: at,
      lastHeartbeat: at,
      status: "healthy",
      consecutiveFailures: 0,
    };
    // Both connections taken by calls the instance holds.
    const holding = [proxy.get(instance, "/hold", 10_000), proxy.get(instance, "/hold", 10_000)];
    await waitFor(() => held.length === 2);
    // Ten calls wait for a connection and run out of budget.
    const dead = Array.from({ length: 10 }, (_, i) => proxy.get(instance, `/dead?${i}`, 50));
    for (const call of dead) await expect(call).rejects.toBeInstanceOf(TimeoutError);
    for (const res of held) res.end("held");
    for (const call of holding) expect((await call).body.toString()).toBe("held");
    // A fresh call is served at once, on one of the two kept-alive connections.
    expect((await proxy.get(instance, "/fresh", 10_000)).body.toString()).toBe("ok");
    expect(seen).toEqual(["/hold", "/hold", "/fresh"]);
    expect(connections).toBe(2);
  });
});
