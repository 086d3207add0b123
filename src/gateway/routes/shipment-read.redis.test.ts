/**
 * break34 F3 (shipments): the shipping service serves `GET /shipments/:orderId`, but the gateway
 * proxied only the parked list and the re-queue, so an operator could not read a shipment without
 * redis-cli. Over real HTTP, a real shipping service and real Redis: an admin key reads the record,
 * a client key is refused, the service's 400 and 404 are passed on, and `/shipments/parked` is
 * still the parked list, not the shipment of an order "parked".
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { serviceCredentialSecret } from "../../lib/http/gateway-credential.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { parkedKey, shipmentKey } from "../../services/shipping/keys.js";
import { createShippingService } from "../../services/shipping/service.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createGateway, type Gateway } from "../gateway.js";

const SECRET = "test-gateway-secret-0123456789abcdef";
const ADMIN = { "x-api-key": "admin-1" };
const CLIENT = { "x-api-key": "client-1" };
type ErrorAnswer = { error: { code: string; message: string } };

describeWithRedis("gateway: GET /shipments/:orderId (admin), break34 F3", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  let gateway: Gateway | undefined;
  const get = (path: string, headers: Record<string, string>) =>
    fetch(`${gateway!.url}${path}`, { headers, signal: AbortSignal.timeout(30_000) });

  beforeAll(async () => {
    platform = createRedisPlatform({ url: getRedis().url });
    service = await startService(createShippingService(), {
      events: AllEvents,
      platform,
      port: 0,
      gatewaySecret: serviceCredentialSecret(SECRET, "shipping"),
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    gateway = await createGateway({
      platform,
      port: 0,
      sharedSecret: SECRET,
      apiKeys: ["client-1"],
      adminKeys: ["admin-1"],
      healthCheckIntervalMs: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
    await service?.stop();
    await platform?.close();
  });

  it("answers an admin key with the shipment's record, carrier booking included", async () => {
    const orderId = `o-${randomUUID()}`;
    const saga = new Publisher({
      events: AllEvents,
      transport: platform!.transport,
      source: { service: "order", instance: "t" },
    });
    await saga.publish("shipping.shipment.requested", {
      orderId,
      userId: "u-1",
      items: [{ productId: "p-1", quantity: 2 }],
    });
    const redis = getRedis().client();
    await waitFor(async () => (await redis.hget(shipmentKey(orderId), "status")) === "prepared", 30_000);

    const res = await get(`/shipments/${orderId}`, ADMIN);
    const body = (await res.json()) as Record<string, unknown>;
    expect(`${res.status} ${JSON.stringify(body)}`).toMatch(/^200 /);
    expect(body).toMatchObject({
      orderId,
      status: "prepared",
      userId: "u-1",
      items: [{ productId: "p-1", quantity: 2 }],
    });
    for (const field of ["shipmentId", "trackingNumber", "carrier"])
      expect(typeof body[field], field).toBe("string");
  }, 60_000);

  it("refuses a client key (403 ADMIN_REQUIRED) and no key (401)", async () => {
    const refused = await get(`/shipments/o-${randomUUID()}`, CLIENT);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as ErrorAnswer).error.code).toBe("ADMIN_REQUIRED");
    expect((await get(`/shipments/o-${randomUUID()}`, {})).status).toBe(401);
  }, 60_000);

  it("passes on the service's 404 for an order without a shipment, and its 400 for a malformed id", async () => {
    const orderId = `o-${randomUUID()}`;
    const missing = await get(`/shipments/${orderId}`, ADMIN);
    const answer = (await missing.json()) as ErrorAnswer;
    expect(`${missing.status} ${answer.error.message}`).toBe(`404 shipment of order ${orderId} not found`);
    // A space and a 101-character id: both outside the order id's format (visible ASCII, 1-100).
    for (const bad of ["a%20b", "x".repeat(101)]) {
      const res = await get(`/shipments/${bad}`, ADMIN);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as ErrorAnswer).error.code, bad).toBe("VALIDATION_FAILED");
    }
  }, 60_000);

  it("still routes /shipments/parked to the parked list, not to the shipment of an order 'parked'", async () => {
    const redis = getRedis().client();
    const orderId = `o-${randomUUID()}`;
    await redis.hset(
      parkedKey(),
      orderId,
      JSON.stringify({ reason: "test", parkedAt: Date.now(), tries: 15 }),
    );
    const res = await get("/shipments/parked?limit=10", ADMIN);
    const body = (await res.json()) as { parked: { orderId: string }[] };
    expect(`${res.status} ${JSON.stringify(body)}`).toMatch(/^200 /);
    expect(body.parked.map((p) => p.orderId)).toContain(orderId);
    // The gateway's own route: the parked list's template, not `/shipments/:orderId`.
    const metrics = await (await get("/metrics", ADMIN)).text();
    expect(metrics).toMatch(
      /ordersaga_http_requests_total\{[^}]*route="\/shipments\/parked"[^}]*status="200"/,
    );
  }, 60_000);
});
