import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMemoryPlatform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { type InventoryHarness, startInventoryHarness } from "./service-harness.js";

const keyboard = (quantity: number) => [{ productId: "prod-keyboard", quantity }];

describe("inventory service (memory platform)", () => {
  let h: InventoryHarness;
  beforeEach(async () => {
    h = await startInventoryHarness(createMemoryPlatform());
  });
  afterEach(async () => {
    await h.stop();
  });

  const handledAtLeast = (event: string, count: number) =>
    waitFor(async () => (await h.handled(event)) >= count, 5_000, `${count} × ${event} handled`);

  it("serves the seeded demo catalog and announces each product", async () => {
    const { status, body } = await h.http("/inventory");
    expect(status).toBe(200);
    const products = (body as { products: { productId: string }[] }).products;
    expect(products.map((p) => p.productId)).toEqual([
      "prod-cable",
      "prod-keyboard",
      "prod-limited",
      "prod-monitor",
      "prod-mouse",
    ]);
    expect(products[1]).toEqual({
      productId: "prod-keyboard",
      name: "Mechanical keyboard",
      price: 4999,
      available: 100,
      reserved: 0,
      committed: 0,
      lowStockThreshold: 10,
    });
    expect(await h.waitForEvents("inventory.product.added", 5)).toHaveLength(5);
  });

  it("adds a product over HTTP once: 201, then 409 PRODUCT_EXISTS; 400 for a bad body", async () => {
    const body = { productId: "prod-lamp", name: "Desk lamp", price: 3500, quantity: 8 };
    const created = await h.http("/inventory", { method: "POST", body });
    expect(created).toEqual({
      status: 201,
      body: {
        productId: "prod-lamp",
        name: "Desk lamp",
        price: 3500,
        available: 8,
        reserved: 0,
        committed: 0,
        lowStockThreshold: 10,
      },
    });
    const again = await h.http("/inventory", { method: "POST", body });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: "PRODUCT_EXISTS" } });
    const bad = await h.http("/inventory", {
      method: "POST",
      body: { ...body, productId: "x y", price: -1 },
    });
    expect(bad.status).toBe(400);
    expect(await h.waitForEvents("inventory.product.added", 6)).toContainEqual({
      productId: "prod-lamp",
      name: "Desk lamp",
      price: 3500,
      quantity: 8,
      lowStockThreshold: 10,
    });
  });

  it("pages GET /inventory by productId: limit, nextCursor, and 400 naming a bad limit or cursor", async () => {
    const first = await h.http("/inventory?limit=2");
    expect(first.status).toBe(200);
    const page1 = first.body as { products: { productId: string }[]; nextCursor?: string };
    expect(page1.products.map((p) => p.productId)).toEqual(["prod-cable", "prod-keyboard"]);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = (await h.http(`/inventory?limit=2&cursor=${page1.nextCursor}`)).body as typeof page1;
    expect(page2.products.map((p) => p.productId)).toEqual(["prod-limited", "prod-monitor"]);
    const page3 = (await h.http(`/inventory?limit=2&cursor=${page2.nextCursor}`)).body as typeof page1;
    expect(page3).toEqual({ products: [expect.objectContaining({ productId: "prod-mouse" })] });
    // Exactly a page's worth left: no cursor to an empty page.
    expect((await h.http("/inventory?limit=5")).body).not.toHaveProperty("nextCursor");
    for (const [query, path] of [
      ["limit=0", "query:limit"],
      ["limit=501", "query:limit"],
      ["limit=abc", "query:limit"],
      ["cursor=not-one-of-ours!", "query:cursor"],
    ]) {
      const bad = await h.http(`/inventory?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.body, query).toMatchObject({
        error: { code: "VALIDATION_FAILED", details: [expect.objectContaining({ path })] },
      });
    }
  });

  it("returns a product's levels, and 404 for an unknown product", async () => {
    expect((await h.http("/inventory/prod-limited")).body).toMatchObject({ available: 5, price: 14999 });
    const missing = await h.http("/inventory/prod-nothing");
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: "NOT_FOUND" } });
  });

  it("restocks over HTTP and announces the new level; 404 unknown, 400 zero", async () => {
    const restocked = await h.http("/inventory/prod-limited/restock", {
      method: "POST",
      body: { quantity: 3 },
    });
    expect(restocked).toMatchObject({ status: 200, body: { productId: "prod-limited", available: 8 } });
    expect(
      (await h.http("/inventory/prod-nothing/restock", { method: "POST", body: { quantity: 3 } })).status,
    ).toBe(404);
    expect(
      (await h.http("/inventory/prod-limited/restock", { method: "POST", body: { quantity: 0 } })).status,
    ).toBe(400);
    expect(await h.waitForEvents("inventory.restocked")).toEqual([
      { productId: "prod-limited", quantity: 3, available: 8 },
    ]);
  });

  it("answers a reservation request with inventory.reserved, carrying correlation and causation", async () => {
    const request = await h.order.publish("inventory.reservation.requested", {
      orderId: "o-1",
      items: keyboard(2),
    });
    expect(await h.waitForEvents("inventory.reserved")).toEqual([
      {
        orderId: "o-1",
        items: [{ productId: "prod-keyboard", quantity: 2, unitPrice: 4999 }],
        total: 9998,
        currency: "USD",
      },
    ]);
    const reply = h.seen.find((e) => e.event === "inventory.reserved");
    expect(reply).toMatchObject({ correlationId: request.correlationId, causationId: request.id });
    expect((await h.http("/inventory/prod-keyboard")).body).toMatchObject({ available: 98, reserved: 2 });
  });

  it("answers an order with one short line with out_of_stock and reserves nothing", async () => {
    const items = [...keyboard(1), { productId: "prod-limited", quantity: 6 }];
    await h.order.publish("inventory.reservation.requested", { orderId: "o-short", items });
    expect(await h.waitForEvents("inventory.reservation.failed")).toEqual([
      {
        orderId: "o-short",
        reason: "out_of_stock",
        items: [{ productId: "prod-limited", requested: 6, available: 5 }],
      },
    ]);
    expect((await h.http("/inventory/prod-keyboard")).body).toMatchObject({ available: 100, reserved: 0 });
  });

  it("handles a request delivered twice once: same stock, one reply", async () => {
    // Two deliveries with different message ids get past the bus's dedupe: the orderId must stop them.
    await h.order.publish("inventory.reservation.requested", { orderId: "o-twice", items: keyboard(3) });
    await h.order.publish("inventory.reservation.requested", { orderId: "o-twice", items: keyboard(3) });
    await h.waitForEvents("inventory.reserved");
    await handledAtLeast("inventory.reservation.requested", 2);
    expect(h.payloads("inventory.reserved")).toHaveLength(1);
    expect((await h.http("/inventory/prod-keyboard")).body).toMatchObject({ available: 97, reserved: 3 });
  });

  it("commits once, and ignores a release after the commit", async () => {
    await h.order.publish("inventory.reservation.requested", { orderId: "o-c", items: keyboard(4) });
    await h.waitForEvents("inventory.reserved");
    await h.order.publish("inventory.commit.requested", { orderId: "o-c" });
    await h.order.publish("inventory.commit.requested", { orderId: "o-c" });
    await h.waitForEvents("inventory.committed");
    await handledAtLeast("inventory.commit.requested", 2);
    await h.order.publish("order.compensation.inventory.release", { orderId: "o-c", reason: "late timeout" });
    await handledAtLeast("order.compensation.inventory.release", 1);
    expect(h.payloads("inventory.committed")).toEqual([{ orderId: "o-c", items: keyboard(4) }]);
    expect(h.payloads("inventory.released")).toEqual([]);
    expect((await h.http("/inventory/prod-keyboard")).body).toMatchObject({
      available: 96,
      reserved: 0,
      committed: 4,
    });
  });

  it("releases a reservation once on compensation", async () => {
    await h.order.publish("inventory.reservation.requested", { orderId: "o-r", items: keyboard(4) });
    await h.waitForEvents("inventory.reserved");
    await h.order.publish("order.compensation.inventory.release", {
      orderId: "o-r",
      reason: "payment declined",
    });
    await h.order.publish("order.compensation.inventory.release", {
      orderId: "o-r",
      reason: "payment declined",
    });
    await h.waitForEvents("inventory.released");
    await handledAtLeast("order.compensation.inventory.release", 2);
    expect(h.payloads("inventory.released")).toEqual([{ orderId: "o-r", items: keyboard(4) }]);
    expect((await h.http("/inventory/prod-keyboard")).body).toMatchObject({ available: 100, reserved: 0 });
  });

  it("ignores a reservation request that arrives after its release", async () => {
    await h.order.publish("order.compensation.inventory.release", {
      orderId: "o-late",
      reason: "saga timed out",
    });
    await handledAtLeast("order.compensation.inventory.release", 1);
    await h.order.publish("inventory.reservation.requested", { orderId: "o-late", items: keyboard(5) });
    await handledAtLeast("inventory.reservation.requested", 1);
    expect(h.payloads("inventory.reserved")).toEqual([]);
    expect(h.payloads("inventory.released")).toEqual([]);
    expect((await h.http("/inventory/prod-keyboard")).body).toMatchObject({ available: 100, reserved: 0 });
  });

  it("alerts low stock when a reservation crosses the threshold", async () => {
    await h.order.publish("inventory.reservation.requested", {
      orderId: "o-low",
      items: [{ productId: "prod-monitor", quantity: 20 }],
    });
    expect(await h.waitForEvents("inventory.lowStock")).toEqual([
      { productId: "prod-monitor", available: 5, threshold: 5 },
    ]);
  });
});

describe("inventory service options", () => {
  it("starts with an empty catalog when seeding is off", async () => {
    const h = await startInventoryHarness(createMemoryPlatform(), { seed: false });
    try {
      expect((await h.http("/inventory")).body).toEqual({ products: [] });
    } finally {
      await h.stop();
    }
  });
});
