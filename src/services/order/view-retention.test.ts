import { expect, it } from "vitest";
import { readModelKey } from "../../lib/eventstore/keys.js";
import { RedisReadModelStore } from "../../lib/eventstore/redis-read-model-store.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { ORDER_TAG } from "./keys.js";
import type { OrderView } from "./projections.js";
import { ViewRetention } from "./view-retention.js";

const DAY_MS = 86_400_000;
const now = Date.parse("2026-06-01T00:00:00.000Z");

const view = (id: string, status: OrderView["status"], daysAgo: number): OrderView => ({
  id,
  userId: "u1",
  items: [{ productId: "p1", quantity: 1, unitPrice: 100 }],
  total: 100,
  currency: "USD",
  status,
  createdAt: new Date(now - daysAgo * DAY_MS).toISOString(),
  updatedAt: new Date(now - daysAgo * DAY_MS).toISOString(),
  version: 9,
});

describeWithRedis("order view retention", (getRedis) => {
  it("drops the views of orders that ended longer ago than the retention, and keeps the rest", async () => {
    const redis = getRedis().client();
    const name = `order-view-retention-${Date.now()}`;
    const store = new RedisReadModelStore<OrderView>({ redis, tag: ORDER_TAG, name });
    const views = [
      view("old-delivered", "delivered", 40),
      view("old-failed", "failed", 31),
      view("old-cancelled", "cancelled", 60),
      view("old-shipped", "shipped", 40), // its delivery may still come
      view("old-pending", "pending", 40),
      view("new-delivered", "delivered", 2),
    ];
    const batch = new Map(views.map((v, i) => [v.id, { position: String(i + 1), value: v }]));
    expect(await store.commit({ expectedCheckpoint: undefined, checkpoint: "6", views: batch })).toBe(true);

    const retention = new ViewRetention({
      redis,
      key: readModelKey(ORDER_TAG, name),
      retentionMs: 30 * DAY_MS,
      now: () => now,
      batch: 2,
    });
    expect(await retention.sweep()).toBe(3);
    expect([...(await store.all()).keys()].sort()).toEqual(["new-delivered", "old-pending", "old-shipped"]);
    expect(await store.checkpoint()).toBe("6");
  });
});
