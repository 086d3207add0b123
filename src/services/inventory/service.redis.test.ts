import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { eventStreamKey, FIELD_BODY } from "../../lib/bus/transports/redis-stream-keys.js";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
import { startService } from "../../lib/runtime/service-host.js";
import { CLIENT_HEADER } from "../../lib/http/headers.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createInventoryService } from "./service.js";
import { type InventoryHarness, startInventoryHarness } from "./service-harness.js";

describeWithRedis("inventory service (Redis platform)", (getRedis) => {
  let h: InventoryHarness;
  const streamPayloads = async (event: string) => {
    const entries = await getRedis().client().xrange(eventStreamKey("inventory", event), "-", "+");
    return entries.map(([, fields]) => decodeEnvelope(fields[fields.indexOf(FIELD_BODY) + 1] ?? "").payload);
  };

  beforeEach(async () => {
    await getRedis().flush();
    h = await startInventoryHarness(createRedisPlatform({ url: getRedis().url }));
  });
  afterEach(async () => {
    await h.stop();
  });

  it("answers a reservation request on the inventory.reserved stream, once per order", async () => {
    const items = [{ productId: "prod-keyboard", quantity: 2 }];
    await h.order.publish("inventory.reservation.requested", { orderId: "o-1", items });
    await h.order.publish("inventory.reservation.requested", { orderId: "o-1", items });
    await h.waitForEvents("inventory.reserved");
    await waitFor(
      async () => (await h.handled("inventory.reservation.requested")) >= 2,
      5_000,
      "both deliveries",
    );
    expect(await streamPayloads("inventory.reserved")).toEqual([
      {
        orderId: "o-1",
        items: [{ productId: "prod-keyboard", quantity: 2, unitPrice: 4999 }],
        total: 9998,
        currency: "USD",
      },
    ]);
    expect((await h.http("/inventory/prod-keyboard")).body).toMatchObject({ available: 98, reserved: 2 });
  });

  it("commits a reservation through the bus", async () => {
    const items = [{ productId: "prod-limited", quantity: 5 }];
    await h.order.publish("inventory.reservation.requested", { orderId: "o-2", items });
    await h.waitForEvents("inventory.reserved");
    await h.order.publish("inventory.commit.requested", { orderId: "o-2" });
    expect(await h.waitForEvents("inventory.committed")).toEqual([{ orderId: "o-2", items }]);
    expect((await h.http("/inventory/prod-limited")).body).toMatchObject({
      available: 0,
      reserved: 0,
      committed: 5,
    });
    expect(await streamPayloads("inventory.lowStock")).toEqual([
      { productId: "prod-limited", available: 0, threshold: 2 },
    ]);
  });

  it("adds and restocks products over HTTP, with their events on the streams", async () => {
    const body = {
      productId: "prod-lamp",
      name: "Desk lamp",
      price: 3500,
      quantity: 8,
      lowStockThreshold: 2,
    };
    expect((await h.http("/inventory", { method: "POST", body })).status).toBe(201);
    expect((await h.http("/inventory", { method: "POST", body })).status).toBe(409);
    const restocked = await h.http("/inventory/prod-lamp/restock", { method: "POST", body: { quantity: 4 } });
    expect(restocked).toMatchObject({ status: 200, body: { available: 12, lowStockThreshold: 2 } });
    expect((await h.http("/inventory")).body).toMatchObject({
      products: expect.arrayContaining([expect.objectContaining({ productId: "prod-lamp" })]),
    });
    expect(await streamPayloads("inventory.restocked")).toEqual([
      { productId: "prod-lamp", quantity: 4, available: 12 },
    ]);
    expect(await streamPayloads("inventory.product.added")).toContainEqual(body);
  });

  it("seeds a product once when two instances start together", async () => {
    const seed = [{ productId: "prod-new", name: "New thing", price: 100, quantity: 3 }];
    const platforms = [
      createRedisPlatform({ url: getRedis().url }),
      createRedisPlatform({ url: getRedis().url }),
    ];
    const instances = await Promise.all(
      platforms.map((platform) =>
        startService(createInventoryService({ seed }), { events: AllEvents, platform, port: 0 }),
      ),
    );
    try {
      const added = (await streamPayloads("inventory.product.added")) as { productId: string }[];
      expect(added.filter((p) => p.productId === "prod-new")).toHaveLength(1);
      expect(added).toHaveLength(6);
    } finally {
      await Promise.all(instances.map((i) => i.stop()));
      await Promise.all(platforms.map((p) => p.close()));
    }
  });

  it("applies a restock with an Idempotency-Key once per client: a replay answers the current levels", async () => {
    const restock = async (quantity: number, key: string, client?: string) => {
      const response = await fetch(`${h.running.url}/inventory/prod-cable/restock`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "idempotency-key": key,
          ...(client === undefined ? {} : { [CLIENT_HEADER]: client }),
        },
        body: JSON.stringify({ quantity }),
      });
      return {
        status: response.status,
        replayed: response.headers.get("idempotent-replayed"),
        body: (await response.json()) as { available?: number; error?: { code: string } },
      };
    };
    const before = ((await h.http("/inventory/prod-cable")).body as { available: number }).available;
    // The same request twice at once (a resend after a 502 racing the first): applied once.
    const [a, b] = await Promise.all([restock(5, "k-1", "alice"), restock(5, "k-1", "alice")]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.replayed, b.replayed].filter((r) => r === "true")).toHaveLength(1);
    expect((await h.http("/inventory/prod-cable")).body).toMatchObject({ available: before + 5 });
    // Later, after another change: the replay answers the product as it is now, changing nothing.
    expect(
      (await h.http("/inventory/prod-cable/restock", { method: "POST", body: { quantity: 1 } })).status,
    ).toBe(200);
    const replay = await restock(5, "k-1", "alice");
    expect(replay).toMatchObject({ status: 200, replayed: "true", body: { available: before + 6 } });
    // The same key with another body: 422, nothing applied.
    const reused = await restock(7, "k-1", "alice");
    expect(reused).toMatchObject({ status: 422, body: { error: { code: "IDEMPOTENCY_KEY_REUSED" } } });
    // Keys are per client: bob's "k-1" is his own.
    expect(await restock(5, "k-1", "bob")).toMatchObject({ status: 200, replayed: null });
    expect((await h.http("/inventory/prod-cable")).body).toMatchObject({ available: before + 11 });
    expect(await streamPayloads("inventory.restocked")).toHaveLength(3);
    // A malformed key is named.
    const bad = await restock(5, "has space");
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "VALIDATION_FAILED" } } });
  });
});
