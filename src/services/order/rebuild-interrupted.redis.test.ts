/**
 * A rebuild of the order service's read models killed midway (break42 F1): it leaves the read model
 * partial and marked, and the next order service started over that Redis finishes it, before it
 * consumes or serves, from the checkpoint the rebuild left.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { Transport } from "../../lib/bus/transport.js";
import { type Projection, ProjectionRunner, type ReadModelStore } from "../../lib/eventstore/index.js";
import { commitFailsFrom } from "../../lib/eventstore/projection-contract.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { orderListProjection } from "./order-list.js";
import { deadlineProjection, orderViewProjection } from "./projections.js";
import { createRedisOrderStores } from "./redis-store.js";
import { OrderRepository } from "./repository.js";
import { SagaRunner } from "./saga-runner.js";
import { inlineProjections, type OrderStores } from "./store.js";
import { startOrderService } from "./test-harness.js";

const publisher = new Publisher({
  events: AllEvents,
  transport: {} as Transport,
  source: { service: "order", instance: "test" },
  signer: null,
});

const silent = { user: "silent", inventory: "silent", payment: "silent", shipping: "silent" } as const;

describeWithRedis("an interrupted read-model rebuild", (getRedis) => {
  let platform: Platform;
  let stores: OrderStores;

  beforeEach(async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
    stores = createRedisOrderStores({ redis: getRedis().client() });
  });

  afterEach(async () => {
    await stores.close?.();
    await platform.close();
  });

  /** 12 orders, all in flight (in the deadline index) with a step timeout of an hour. */
  async function placeOrders(): Promise<string[]> {
    const runner = new SagaRunner({
      repository: new OrderRepository(stores.events, { inline: inlineProjections(stores) }),
      now: Date.now,
      saga: { stepTimeoutMs: 3_600_000 },
    });
    const ids = Array.from({ length: 12 }, (_, i) => `o-${i}`);
    for (const [i, orderId] of ids.entries()) {
      const userId = `u-${i % 3}`;
      const items = [{ productId: "sku-1", quantity: 1 + i }];
      await runner.place(
        { orderId, userId, items, paymentToken: SEALED_TOKEN, correlationId: orderId },
        publisher,
      );
      if (i % 4 === 3) continue;
      await runner.run(
        orderId,
        { type: "user.validated", payload: { orderId, userId, valid: true } },
        publisher,
      );
      await runner.run(orderId, { type: "cancel" }, publisher);
    }
    return ids;
  }

  const runner = <V>(projection: Projection<V>, readModel: ReadModelStore<V>) =>
    new ProjectionRunner({ events: stores.events, projection, readModel, batchSize: 5 });

  it("is finished by the next order service started: deadlines, list and views complete, no marker", async () => {
    const ids = await placeOrders();
    const complete = {
      views: await stores.views.all(),
      deadlines: await stores.deadlines.all(),
      list: await stores.list.all(),
    };
    expect(complete.deadlines.size).toBeGreaterThan(0);
    expect(complete.list.size).toBe(ids.length);

    // Each rebuild dies on its second batch: one batch of 5 events replayed, the rest lost.
    const interrupt = async <V>(projection: Projection<V>, readModel: ReadModelStore<V>) => {
      await expect(runner(projection, commitFailsFrom(readModel, 2)).rebuild()).rejects.toThrow(
        "killed midway",
      );
      expect(await readModel.rebuildMarker()).toBeDefined();
    };
    await interrupt(orderViewProjection, stores.views);
    await interrupt(deadlineProjection, stores.deadlines);
    await interrupt(orderListProjection, stores.list);
    expect((await stores.deadlines.all()).size).toBeLessThan(complete.deadlines.size);
    expect((await stores.list.page({ limit: 100 })).ids.length).toBeLessThan(ids.length);
    expect((await stores.views.all()).size).toBeLessThan(ids.length);

    const h = await startOrderService(platform, { sweepIntervalMs: 60_000 }, silent);
    try {
      expect(await stores.deadlines.all()).toEqual(complete.deadlines);
      expect(await stores.list.all()).toEqual(complete.list);
      expect(await stores.views.all()).toEqual(complete.views);
      expect((await stores.list.page({ limit: 100 })).ids).toHaveLength(ids.length);
      for (const readModel of [stores.views, stores.deadlines, stores.list]) {
        expect(await readModel.rebuildMarker()).toBeUndefined();
      }
      const listed = await h.request<{ orders: unknown[] }>("GET", "/orders?limit=100");
      expect(listed.status).toBe(200);
    } finally {
      await h.stop();
    }
  });

  it("two services starting at once both finish it safely", async () => {
    await placeOrders();
    const complete = await stores.deadlines.all();
    await expect(runner(deadlineProjection, commitFailsFrom(stores.deadlines, 2)).rebuild()).rejects.toThrow(
      "killed midway",
    );
    const [a, b] = await Promise.all([
      startOrderService(platform, { sweepIntervalMs: 60_000 }, silent),
      startOrderService(platform, { sweepIntervalMs: 60_000 }, silent),
    ]);
    try {
      expect(await stores.deadlines.all()).toEqual(complete);
      expect(await stores.deadlines.rebuildMarker()).toBeUndefined();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("leaves no marker after a rebuild that completed", async () => {
    await placeOrders();
    const complete = await stores.list.all();
    await runner(orderListProjection, stores.list).rebuild();
    await runner(deadlineProjection, stores.deadlines).rebuild();
    expect(await stores.list.all()).toEqual(complete);
    expect(await stores.list.rebuildMarker()).toBeUndefined();
    expect(await stores.deadlines.rebuildMarker()).toBeUndefined();
  });
});
