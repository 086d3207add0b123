/**
 * After the pivot the saga only goes forward (issue 8, "What to build" 4): scheduling the delivery of
 * a completed order rides the must-complete policy, so a store that keeps failing for a while (a
 * Redis blip, contention) delays it, never parks it in the DLQ.
 */
import { afterEach, expect, it } from "vitest";
import type { AllEvents } from "../../contracts/index.js";
import type { Subscriber } from "../../lib/bus/subscriber.js";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { SimulatedCarrier } from "./carrier.js";
import { MemoryShippingStore, type ShippingStore } from "./store.js";
import { startShippingConsumer } from "./test-consumer.js";

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
  const consumer = await startShippingConsumer(memory, store, new SimulatedCarrier());
  subscriber = consumer.subscriber;
  const { order } = consumer;
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
