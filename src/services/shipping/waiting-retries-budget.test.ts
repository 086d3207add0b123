/**
 * A shipment request waits only for what it must wait for (DESIGN §6): retries of a booking whose
 * outcome the carrier cannot tell yet (`CARRIER_UNAVAILABLE`, an error that `waits`) spend none of
 * the default 3 attempts, so one transient store error after them is retried, not dead-lettered
 * while the carrier holds a booking (break15 F4).
 */
import { afterEach, expect, it } from "vitest";
import { type AllEvents } from "../../contracts/index.js";
import { type Publisher } from "../../lib/bus/publisher.js";
import { type Subscriber } from "../../lib/bus/subscriber.js";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { type Carrier, SimulatedCarrier } from "./carrier.js";
import { MemoryShippingStore, type ShippingStore } from "./store.js";
import { startShippingConsumer } from "./test-consumer.js";

let platform: Platform | undefined;
let subscriber: Subscriber<typeof AllEvents, typeof AllEvents> | undefined;
afterEach(async () => {
  await subscriber?.stop();
  await platform?.close();
});

it("a store blip after two carrier-unreachable retries is retried: the booked request is prepared, not parked", async () => {
  const memory = createMemoryPlatform();
  platform = memory;
  const inner = new MemoryShippingStore((messages) => memory.transport.publish(messages));
  let blips = 0;
  // The real store; its first commit fails once like a dropped Redis connection (transient).
  const store: ShippingStore = Object.assign(Object.create(inner) as ShippingStore, {
    commit: async (...args: Parameters<ShippingStore["commit"]>) => {
      if (blips++ === 0) throw new Error("Connection is closed. (simulated, transient)");
      return inner.commit(...args);
    },
  });
  const simulated = new SimulatedCarrier();
  let carrierFailures = 0;
  // The carrier cannot be reached for the first 2 deliveries (book + look up each), then answers.
  const down = () => {
    if (carrierFailures >= 4) return;
    carrierFailures++;
    throw new Error("carrier unreachable (simulated)");
  };
  const carrier: Carrier = {
    prepare: async (request, signal) => {
      down();
      return simulated.prepare(request, signal);
    },
    retrieve: async (key, signal) => {
      down();
      return simulated.retrieve(key, signal);
    },
    cancel: (key, orderId, signal) => simulated.cancel(key, orderId, signal),
    list: (page, signal) => simulated.list(page, signal),
  };
  let order: Publisher<typeof AllEvents>;
  ({ subscriber, order } = await startShippingConsumer(memory, store, carrier));
  await order.publish("shipping.shipment.requested", {
    orderId: "blip-1",
    userId: "u-1",
    items: [{ productId: "p-1", quantity: 1 }],
  });
  await waitFor(
    async () =>
      (await inner.get("blip-1"))?.status === "prepared" || (await memory.deadLetters.list()).length > 0,
    10_000,
    "prepared or parked",
  );
  expect(await memory.deadLetters.list()).toEqual([]);
  expect((await inner.get("blip-1"))?.status).toBe("prepared");
  expect(blips).toBe(2);
  expect((await simulated.retrieve("shipment:blip-1"))?.status).toBe("booked");
});
