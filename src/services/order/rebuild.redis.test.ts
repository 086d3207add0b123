/**
 * The rebuild path over Redis: with the global log holding each append by reference, replaying it
 * (`ProjectionRunner.rebuild`, docs/storage.md) gives back the views, deadlines and list entries
 * the appends wrote inline.
 */
import { expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { Transport } from "../../lib/bus/transport.js";
import { type Projection, ProjectionRunner, type ReadModelStore } from "../../lib/eventstore/index.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { orderListProjection } from "./order-list.js";
import { deadlineProjection, orderViewProjection } from "./projections.js";
import { createRedisOrderStores } from "./redis-store.js";
import { OrderRepository } from "./repository.js";
import { SagaRunner } from "./saga-runner.js";
import { inlineProjections } from "./store.js";

const publisher = new Publisher({
  events: AllEvents,
  transport: {} as Transport,
  source: { service: "order", instance: "test" },
  signer: null,
});

describeWithRedis("order read models rebuilt from the global log", (getRedis) => {
  it("gives back the views, deadlines and list entries the appends wrote", async () => {
    await getRedis().flush();
    const stores = createRedisOrderStores({ redis: getRedis().client() });
    try {
      const runner = new SagaRunner({
        repository: new OrderRepository(stores.events, { inline: inlineProjections(stores) }),
        now: Date.now,
      });
      const ids = Array.from({ length: 12 }, (_, i) => `o-${i}`);
      for (const [i, orderId] of ids.entries()) {
        const userId = `u-${i % 3}`;
        const items = [{ productId: "sku-1", quantity: 1 + i }];
        await runner.place(
          { orderId, userId, items, paymentToken: SEALED_TOKEN, correlationId: orderId },
          publisher,
        );
        if (i % 4 === 3) continue; // still awaiting validation: in the deadline index
        await runner.run(
          orderId,
          { type: "user.validated", payload: { orderId, userId, valid: true } },
          publisher,
        );
        if (i % 2 === 0) await runner.run(orderId, { type: "cancel" }, publisher);
      }
      const rebuilt = async <V>(projection: Projection<V>, readModel: ReadModelStore<V>) => {
        const before = await readModel.all();
        // A batch size that cuts appends in two: the log is read by position, not by entry.
        await new ProjectionRunner({ events: stores.events, projection, readModel, batchSize: 5 }).rebuild();
        return { before, after: await readModel.all() };
      };
      const views = await rebuilt(orderViewProjection, stores.views);
      expect(views.before.size).toBe(ids.length);
      expect(views.after).toEqual(views.before);
      const deadlines = await rebuilt(deadlineProjection, stores.deadlines);
      expect(deadlines.before.size).toBeGreaterThan(0);
      expect(deadlines.after).toEqual(deadlines.before);
      const list = await rebuilt(orderListProjection, stores.list);
      expect(list.after).toEqual(list.before);
      expect((await stores.list.page({ limit: 100 })).ids).toHaveLength(ids.length);
    } finally {
      await stores.close?.();
    }
  });
});
