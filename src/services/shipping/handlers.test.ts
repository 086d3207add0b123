/**
 * After the pivot the saga only goes forward (issue 8, "What to build" 4): scheduling the delivery of
 * a completed order rides the must-complete policy, so a store that keeps failing for a while (a
 * Redis blip, contention) delays it, never parks it in the DLQ.
 */
import { afterEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { SimulatedCarrier } from "./carrier.js";
import { createShippingHandlers } from "./handlers.js";
import { registerShippingHandlers } from "./service.js";
import { MemoryShippingStore, type ShippingStore } from "./store.js";

let platform: Platform | undefined;
let subscriber: Subscriber<typeof AllEvents, typeof AllEvents> | undefined;
afterEach(async () => {
  await subscriber?.stop();
  await platform?.close();
});

it("schedules the delivery of a completed order whose store fails more often than the default 3 attempts: retried, not dead-lettered", async () => {
  const memory = createMemoryPlatform();
  platform = memory;
  const inner = new MemoryShippingStore((messages) => memory.transport.publish(messages));
  let failures = 0;
  let failing = false;
  // The real store, unreachable for its next 6 calls once the order completed.
  const unreachable = () => {
    if (!failing || failures >= 6) return;
    failures++;
    throw new Error("store unreachable (simulated)");
  };
  const store: ShippingStore = {
    get: async (orderId) => {
      unreachable();
      return inner.get(orderId);
    },
    commit: (...args) => inner.commit(...args),
    scheduleDelivery: async (...args) => {
      unreachable();
      return inner.scheduleDelivery(...args);
    },
    due: (...args) => inner.due(...args),
    claimDelivery: (...args) => inner.claimDelivery(...args),
    dropDue: (orderId) => inner.dropDue(orderId),
    deferDue: (...args) => inner.deferDue(...args),
    parked: () => inner.parked(),
    pageParked: (...args) => inner.pageParked(...args),
    parkedCount: () => inner.parkedCount(),
    requeueParked: (...args) => inner.requeueParked(...args),
    sweepOrphanCounts: (...args) => inner.sweepOrphanCounts(...args),
  };
  const handlers = createShippingHandlers({
    store,
    carrier: new SimulatedCarrier(),
    now: Date.now,
    carrierTimeoutMs: 5_000,
    deliveryDelayMs: 60_000,
  });
  subscriber = new Subscriber({
    events: AllEvents,
    transport: memory.transport,
    group: "shipping",
    consumer: "shipping-1",
    publisher: new Publisher({
      events: AllEvents,
      transport: memory.transport,
      source: { service: "shipping", instance: "shipping-1" },
    }),
    // Short delays for the test; the default policy would dead-letter on the 3rd failure.
    retry: { maxAttempts: 3, backoff: () => 5 },
    mustComplete: { baseDelayMs: 5, maxDelayMs: 20 },
  });
  registerShippingHandlers(subscriber, handlers);
  await memory.transport.ensureGroups("shipping", subscriber.topics());
  await subscriber.start();
  const order = new Publisher({
    events: AllEvents,
    transport: memory.transport,
    source: { service: "order", instance: "test" },
  });
  await order.publish("shipping.shipment.requested", {
    orderId: "done-1",
    userId: "u-1",
    items: [{ productId: "p-1", quantity: 1 }],
  });
  await waitFor(async () => (await inner.get("done-1"))?.status === "prepared", 10_000, "prepared");
  failing = true;
  await order.publish("order.completed", {
    orderId: "done-1",
    userId: "u-1",
    total: 100,
    currency: "USD",
    durationMs: 5,
  });
  await waitFor(
    async () => (await inner.get("done-1"))?.deliverAt !== undefined,
    10_000,
    "delivery scheduled",
  );
  expect(failures).toBe(6);
  expect(await memory.deadLetters.list()).toEqual([]);
});
