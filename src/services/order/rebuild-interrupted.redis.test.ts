/**
 * A rebuild of the order service's read models killed midway (break42 F1): it leaves the read model
 * partial and marked; an order service does not start over it (UnfinishedRebuildError, naming the
 * remedy), and a second rebuild() makes it complete again, also after a clear of the order list
 * killed midway (break43 F1), which no catch-up could repair.
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
import { RedisOrderListIndex } from "./order-list-redis.js";
import { deadlineProjection, orderViewProjection } from "./projections.js";
import { createRedisOrderStores } from "./redis-store.js";
import { UnfinishedRebuildError } from "./service.js";
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

  it("an order service refuses to start over it; a second rebuild() completes deadlines, list and views", async () => {
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

    await expect(startOrderService(platform, { sweepIntervalMs: 60_000 }, silent)).rejects.toThrow(
      UnfinishedRebuildError,
    );

    await runner(orderViewProjection, stores.views).rebuild();
    await runner(deadlineProjection, stores.deadlines).rebuild();
    await runner(orderListProjection, stores.list).rebuild();
    const h = await startOrderService(platform, { sweepIntervalMs: 60_000 }, silent);
    try {
      expect(await stores.deadlines.all()).toEqual(complete.deadlines);
      expect(await stores.list.all()).toEqual(complete.list);
      expect(await stores.views.all()).toEqual(complete.views);
      expect((await stores.list.page({ limit: 100 })).ids).toHaveLength(ids.length);
      for (const readModel of [stores.views, stores.deadlines, stores.list])
        expect(await readModel.rebuildMarker()).toBeUndefined();
      const listed = await h.request<{ orders: unknown[] }>("GET", "/orders?limit=100");
      expect(listed.status).toBe(200);
    } finally {
      await h.stop();
    }
  });

  it("a clear of the order list killed midway: refused at start, and a second rebuild() restores every user's list (break43 F1)", async () => {
    const ids = await placeOrders();
    const complete = await stores.list.all();
    const perUser = async () =>
      Promise.all(
        ["u-0", "u-1", "u-2"].map(async (userId) => (await stores.list.page({ limit: 100, userId })).ids),
      );
    const before = await perUser();
    expect(before.flat()).toHaveLength(ids.length);
    // The list index over a connection that dies inside the clear: half the keys unlinked, then gone.
    const client = getRedis().client();
    const dying = new Proxy(client, {
      get(target, property) {
        if (property === "unlink")
          return async (...keys: string[]) => {
            await target.unlink(...keys.slice(0, Math.ceil(keys.length / 2)));
            throw new Error("killed mid-clear");
          };
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const dyingList = new RedisOrderListIndex(dying);
    await expect(runner(orderListProjection, dyingList).rebuild()).rejects.toThrow("killed mid-clear");
    expect(await stores.list.rebuildMarker()).toBeDefined();
    await expect(startOrderService(platform, { sweepIntervalMs: 60_000 }, silent)).rejects.toThrow(
      /order-list-v1: a rebuild .* has not finished/,
    );
    await runner(orderListProjection, stores.list).rebuild();
    expect(await stores.list.all()).toEqual(complete);
    expect(await perUser()).toEqual(before);
    expect(await stores.list.rebuildMarker()).toBeUndefined();
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
