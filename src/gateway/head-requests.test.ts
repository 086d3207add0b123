import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type EmbeddedSystem, startEmbeddedSystem } from "../system/embedded.js";
import { startTestGateway, startTestUpstream, type TestGateway } from "./test-upstream.js";

// proxy9 item 2: HEAD /inventory through the gateway answered `content-length: 0` while GET answered
// a 680-byte body. RFC 9110 §9.3.2: a HEAD answer carries the headers GET would, Content-Length
// included (the GET body's length) or omitted, never a length the GET body does not have.

let system: EmbeddedSystem | undefined;
let gw: TestGateway | undefined;
const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await gw?.stop();
  gw = undefined;
  await system?.stop();
  system = undefined;
});

describe("gateway: HEAD answers the headers GET would", () => {
  it("answers HEAD /inventory with the content-length and content-type of GET /inventory (embedded system)", async () => {
    system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent", pretty: false });
    const get = await fetch(`${system.gatewayUrl}/inventory`);
    const body = Buffer.from(await get.arrayBuffer());
    expect(get.status).toBe(200);
    expect(body.length).toBeGreaterThan(0);
    expect(get.headers.get("content-length")).toBe(String(body.length));

    const head = await fetch(`${system.gatewayUrl}/inventory`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(body.length));
    expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it("sends HEAD on to the instance and relays its content-length, on a route with a path parameter too", async () => {
    gw = await startTestGateway();
    const upstream = await startTestUpstream(gw.registry, "order", "order-a", () => ({
      status: 200,
      body: { orderId: "o-1", status: "shipped", pad: "x".repeat(1000) },
    }));
    try {
      const get = await fetch(`${gw.url}/orders/o-1`);
      const length = (await get.arrayBuffer()).byteLength;
      const head = await fetch(`${gw.url}/orders/o-1`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(length));
      expect(upstream.hits.map((hit) => hit.method)).toEqual(["GET", "HEAD"]);
      // A 404 too: the length of the error body GET would get.
      upstream.answer(() => ({ status: 404, body: { error: { code: "ORDER_NOT_FOUND", message: "no" } } }));
      const missingGet = await fetch(`${gw.url}/orders/o-2`);
      const missingLength = (await missingGet.arrayBuffer()).byteLength;
      const missingHead = await fetch(`${gw.url}/orders/o-2`, { method: "HEAD" });
      expect(missingHead.status).toBe(404);
      expect(missingHead.headers.get("content-length")).toBe(String(missingLength));
    } finally {
      await upstream.close();
    }
  });

  it("omits content-length when the instance's HEAD answer has none, rather than saying 0", async () => {
    gw = await startTestGateway();
    // An instance that streams its GET body (chunked): its HEAD answer names no length.
    const server = createServer((_req, res) => {
      res.statusCode = 200;
      res.setHeader("content-type", "application/json");
      res.end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const at = new Date().toISOString();
    await gw.registry.register(
      {
        service: "inventory",
        instanceId: "inv-chunked",
        address: "127.0.0.1",
        port: (server.address() as AddressInfo).port,
        version: "1.0.0",
        startedAt: at,
        lastHeartbeat: at,
        status: "healthy",
        consecutiveFailures: 0,
      },
      60_000,
    );
    const head = await fetch(`${gw.url}/inventory`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBeNull();
    expect(head.headers.get("content-type")).toBe("application/json");
  });

  it("passes an instance's 5xx answer to HEAD on with its status, and tries another instance after a HEAD 503", async () => {
    gw = await startTestGateway();
    const failing = await startTestUpstream(gw.registry, "order", "order-a", () => ({
      status: 500,
      body: { error: { code: "INTERNAL", message: "boom" } },
    }));
    try {
      // GET gets the instance's error (its body has the error shape); HEAD, without a body, got 502.
      const get = await fetch(`${gw.url}/orders/o-1`);
      expect(get.status).toBe(500);
      const head = await fetch(`${gw.url}/orders/o-1`, { method: "HEAD" });
      expect(head.status).toBe(500);
    } finally {
      await failing.close();
    }
    // A draining instance answers HEAD 503 without the body it is recognised by: tried elsewhere.
    const draining = await startTestUpstream(gw.registry, "inventory", "inv-a", () => ({
      status: 503,
      body: { error: { code: "SHUTTING_DOWN", message: "closing" } },
    }));
    const healthy = await startTestUpstream(gw.registry, "inventory", "inv-b", () => ({
      status: 200,
      body: [],
    }));
    try {
      for (let i = 0; i < 4; i += 1) {
        const head = await fetch(`${gw.url}/inventory`, { method: "HEAD" });
        expect(head.status).toBe(200);
      }
      expect(healthy.hits.length).toBe(4);
    } finally {
      await draining.close();
      await healthy.close();
    }
  });
});
