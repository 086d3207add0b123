/**
 * Arithmetic at the edge (issue 8, input 7): totals beyond the safe-integer range or the configured
 * maximum fail the order at once with the true reason; catalog prices and restocks have documented
 * maxima answered with a 400 that names no internal event. And every release answers the saga.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_PRICE_CENTS, MAX_STOCK_LEVEL } from "../../contracts/index.js";
import { createMemoryPlatform } from "../../lib/runtime/platform.js";
import { type InventoryHarness, startInventoryHarness } from "./service-harness.js";

describe("inventory limits and compensation replies", () => {
  let h: InventoryHarness;
  beforeEach(async () => {
    h = await startInventoryHarness(createMemoryPlatform(), { seed: false, maxOrderTotalCents: 1_000_000 });
  });
  afterEach(async () => {
    await h.stop();
  });

  const add = (productId: string, price: number, quantity = 10) =>
    h.http("/inventory", { method: "POST", body: { productId, name: productId, price, quantity } });

  it("an order priced beyond the maximum total fails at once with the true reason, stock untouched", async () => {
    expect((await add("prod-gold", 600_000)).status).toBe(201);
    await h.order.publish("inventory.reservation.requested", {
      orderId: "big-1",
      items: [{ productId: "prod-gold", quantity: 2 }],
    });
    const [failed] = await h.waitForEvents("inventory.reservation.failed");
    expect(failed).toMatchObject({ orderId: "big-1", reason: "order_total_too_large" });
    expect((await h.http("/inventory/prod-gold")).body).toMatchObject({ available: 10, reserved: 0 });
    expect(h.payloads("inventory.reserved")).toEqual([]);
  });

  it("a price of 2^52 cents is refused with 400 VALIDATION_FAILED naming the field", async () => {
    const response = await add("prod-huge", 2 ** 52);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({
      error: { code: "VALIDATION_FAILED", details: [expect.objectContaining({ path: "price" })] },
    });
    expect((await add("prod-max", MAX_PRICE_CENTS)).status).toBe(201);
  });

  it("a restock by 2^53-1 (or past the stock maximum) is a 400 on quantity that names no event", async () => {
    expect((await add("prod-bolt", 100)).status).toBe(201);
    for (const quantity of [Number.MAX_SAFE_INTEGER, MAX_STOCK_LEVEL]) {
      const response = await h.http("/inventory/prod-bolt/restock", { method: "POST", body: { quantity } });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({
        error: { code: "VALIDATION_FAILED", details: [expect.objectContaining({ path: "quantity" })] },
      });
      expect(JSON.stringify(response.body)).not.toMatch(/inventory\.restocked|INVALID_PAYLOAD/);
    }
    const ok = await h.http("/inventory/prod-bolt/restock", { method: "POST", body: { quantity: 5 } });
    expect(ok).toMatchObject({ status: 200, body: { available: 15 } });
  });

  it("answers every release: released, nothing to undo (tombstone), already done, too late (committed)", async () => {
    expect((await add("prod-nut", 100)).status).toBe(201);
    const line = [{ productId: "prod-nut", quantity: 1 }];
    await h.order.publish("order.compensation.inventory.release", { orderId: "none-1", reason: "timeout" });
    await h.order.publish("inventory.reservation.requested", { orderId: "rel-1", items: line });
    await h.order.publish("inventory.reservation.requested", { orderId: "com-1", items: line });
    await h.waitForEvents("inventory.reserved", 2);
    await h.order.publish("order.compensation.inventory.release", { orderId: "rel-1", reason: "failed" });
    await h.order.publish("order.compensation.inventory.release", { orderId: "rel-1", reason: "failed" });
    await h.order.publish("inventory.commit.requested", { orderId: "com-1" });
    await h.waitForEvents("inventory.committed");
    await h.order.publish("order.compensation.inventory.release", { orderId: "com-1", reason: "late" });
    const skipped = (await h.waitForEvents("inventory.release.skipped", 3)) as {
      orderId: string;
      outcome: string;
    }[];
    expect(Object.fromEntries(skipped.map((s) => [s.orderId, s.outcome]))).toEqual({
      "none-1": "nothing_to_undo",
      "rel-1": "already_done",
      "com-1": "too_late",
    });
    expect(h.payloads("inventory.released")).toHaveLength(1);
  });
});
