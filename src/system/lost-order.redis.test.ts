/**
 * An order lost with its Redis's last writes (break12 F2: `appendfsync everysec`, kill -9, the AOF's
 * last second gone) while its steps were in flight: the payment and inventory services still did
 * their effects and replied for an order the order service has no history of. Each effect is undone
 * (compensation published once, even for a reply delivered twice), so nobody stays charged and no
 * stock stays reserved. The lost order is played by commands sent for an order id that never had a
 * stream, signed as the order service signs them, to the real services of the embedded system.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { type ApiClient, createApiClient } from "../demo/client.js";
import { Publisher } from "../lib/bus/publisher.js";
import { eventStreamKey } from "../lib/bus/transports/redis-stream-keys.js";
import { gatewayHeaders, serviceCredentialSecret } from "../lib/http/gateway-credential.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { tokenKeyStoreOf, tokenSealerFromEnv } from "../lib/security/payment-token.js";
import { getProcessKeyring } from "../lib/security/process-keys.js";
import { createOwnerSigner } from "../lib/security/signing.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "./embedded.js";

describeWithRedis("an order lost with Redis's last writes: its effects are undone", (getRedis) => {
  let system: EmbeddedSystem;
  let api: ApiClient;
  let redis: Redis;
  /** Sends as each event's owner signs it: the order's commands, and a duplicate of a reply. */
  let publisher: Publisher<typeof AllEvents>;

  beforeAll(async () => {
    await getRedis().flush();
    const platform = createRedisPlatform({ url: getRedis().url });
    system = await startEmbeddedSystem({ platform, gatewayPort: 0, logLevel: "silent" });
    api = createApiClient(system.gatewayUrl);
    redis = getRedis().client();
    publisher = new Publisher({
      events: AllEvents,
      transport: platform.transport,
      source: { service: "order", instance: "lost-order-test" },
      signer: createOwnerSigner(getProcessKeyring()),
    });
  }, 60_000);
  afterAll(() => system?.stop());

  const payment = async (orderId: string) => {
    const url = system.services.find((svc) => svc.name === "payment")!.url;
    const target = `${url}/payments/${orderId}`;
    const secret = serviceCredentialSecret(system.sharedSecret, "payment");
    const res = await fetch(target, { headers: gatewayHeaders(secret, "GET", target) });
    return (await res.json()) as { status: string; provider?: { charged: number; refunded: number } };
  };

  /** The messages of one event stream about one order (their bodies name it). */
  const streamEntriesAbout = async (owner: string, event: string, orderId: string) =>
    (await redis.xrange(eventStreamKey(owner, event), "-", "+")).filter(([, fields]) =>
      fields.some((f) => f.includes(orderId)),
    ).length;

  /** True once the order group has read and acked every entry of a reply stream. */
  const orderGroupDone = async (owner: string, event: string) => {
    const key = eventStreamKey(owner, event);
    const [last] = await redis.xrevrange(key, "+", "-", "COUNT", 1);
    const groups = (await redis.xinfo("GROUPS", key)) as unknown[][];
    const group = groups.map((g) => fieldsOf(g)).find((g) => g.name === "order");
    return Boolean(last && group && group["last-delivered-id"] === last[0] && group.pending === 0);
  };

  it("a charge made for a lost order is refunded once, also when its payment.processed comes twice", async () => {
    const orderId = randomUUID();
    const sealer = tokenSealerFromEnv(tokenKeyStoreOf(system.platform));
    await publisher.publish("payment.requested", {
      orderId,
      userId: "u-lost",
      amount: 3036,
      currency: "USD",
      paymentToken: await sealer.seal(orderId, "tok_ok"),
      attempt: 1,
    });
    const refunded = await waitFor(
      async () => {
        const p = await payment(orderId);
        return p.status === "refunded" ? p : undefined;
      },
      30_000,
      "the lost order's charge refunded",
    );
    expect(refunded.provider).toMatchObject({ charged: 3036, refunded: 3036 });
    // The reply again, as a payment instance that crashed before its ack would send it.
    await publisher.publish("payment.processed", {
      orderId,
      paymentId: "pay-duplicate",
      amount: 3036,
      currency: "USD",
    });
    await waitFor(() => orderGroupDone("payment", "payment.processed"), 30_000, "duplicate handled");
    expect(await streamEntriesAbout("order", "order.compensation.payment.refund", orderId)).toBe(1);
    expect((await payment(orderId)).provider).toMatchObject({ charged: 3036, refunded: 3036 });
    expect(await system.platform.deadLetters.list()).toEqual([]);
  }, 60_000);

  it("a transient payment.failed for a lost order gets its refund once (a charge may still land); a decline gets none", async () => {
    // break28 F1: the charge's answer was lost (timeout), the retrieve found nothing (the provider's
    // in-flight mark was lost too), the charge landed after the transient failure was published.
    const [orderId, declined] = [randomUUID(), randomUUID()];
    const failure = { reason: "provider timeout", code: "timeout", transient: true, attempt: 1 } as const;
    await publisher.publish("payment.failed", { orderId, ...failure });
    await publisher.publish("payment.failed", { orderId, ...failure }); // redelivered
    await publisher.publish("payment.failed", {
      orderId: declined,
      reason: "card declined",
      code: "declined",
      transient: false,
      attempt: 1,
    });
    await waitFor(() => orderGroupDone("payment", "payment.failed"), 30_000, "the replies handled");
    expect(await streamEntriesAbout("order", "order.compensation.payment.refund", orderId)).toBe(1);
    expect(await streamEntriesAbout("order", "order.compensation.payment.refund", declined)).toBe(0);
    // The payment service voids the order's key: a charge landing later is given back, none stays.
    const voided = await waitFor(
      async () => {
        const p = await payment(orderId);
        return p.status === "voided" ? p : undefined;
      },
      30_000,
      "the lost order's payment voided",
    );
    expect(voided.provider?.charged ?? 0).toBe(voided.provider?.refunded ?? 0);
    expect(await system.platform.deadLetters.list()).toEqual([]);
  }, 60_000);

  it("stock reserved for a lost order is released once, also when its inventory.reserved comes twice", async () => {
    const orderId = randomUUID();
    const productId = `lost-${randomUUID().slice(0, 8)}`;
    const created = await api.post("/inventory", { productId, name: productId, price: 500, quantity: 10 });
    expect(created.status).toBe(201);
    await publisher.publish("inventory.reservation.requested", {
      orderId,
      items: [{ productId, quantity: 3 }],
    });
    await waitFor(
      () => streamEntriesAbout("inventory", "inventory.released", orderId),
      30_000,
      "the lost order's reservation released",
    );
    const reply = {
      orderId,
      items: [{ productId, quantity: 3, unitPrice: 500 }],
      total: 1500,
      currency: "USD",
    };
    await publisher.publish("inventory.reserved", reply);
    await waitFor(() => orderGroupDone("inventory", "inventory.reserved"), 30_000, "duplicate handled");
    expect(await streamEntriesAbout("order", "order.compensation.inventory.release", orderId)).toBe(1);
    const stock = (await api.get<{ available: number; reserved: number }>(`/inventory/${productId}`)).body;
    expect(stock).toMatchObject({ available: 10, reserved: 0 });
  }, 60_000);

  it("a shipment booked for a lost order is cancelled once, also when its shipping.shipment.prepared comes twice", async () => {
    const orderId = randomUUID();
    const items = [{ productId: `lost-${randomUUID().slice(0, 8)}`, quantity: 1 }];
    await publisher.publish("shipping.shipment.requested", { orderId, userId: "u-lost", items });
    await waitFor(
      () => streamEntriesAbout("shipping", "shipping.shipment.cancelled", orderId),
      30_000,
      "the lost order's shipment cancelled",
    );
    await publisher.publish("shipping.shipment.prepared", {
      orderId,
      shipmentId: "shp-duplicate",
      trackingNumber: "TRK-duplicate",
      carrier: "UPS",
    });
    await waitFor(
      () => orderGroupDone("shipping", "shipping.shipment.prepared"),
      30_000,
      "duplicate handled",
    );
    expect(await streamEntriesAbout("order", "order.compensation.shipment.cancel", orderId)).toBe(1);
    expect(await streamEntriesAbout("shipping", "shipping.shipment.cancelled", orderId)).toBe(1);
  }, 60_000);
});

/** XINFO's flat [name, value, ...] reply as an object. */
function fieldsOf(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}
