/**
 * A shipment request waits only for what it must wait for (DESIGN §6): a booking whose outcome the
 * carrier cannot tell yet (`CARRIER_OUTCOME_UNKNOWN`, `CARRIER_UNAVAILABLE`: errors that `waits`) is
 * asked again past the default 3 attempts, while any other retryable error (an unreadable record)
 * is parked in the DLQ after 3 attempts, seen at once instead of after the 6 h must-complete window.
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

it("an unreadable record is dead-lettered after 3 attempts while an unknown carrier outcome keeps waiting", async () => {
  const memory = createMemoryPlatform();
  platform = memory;
  const inner = new MemoryShippingStore((messages) => memory.transport.publish(messages));
  let unreadableReads = 0;
  // The real store, but the record of `unreadable-1` does not parse (a damaged hash).
  const store: ShippingStore = Object.assign(Object.create(inner) as ShippingStore, {
    get: async (orderId: string) => {
      if (orderId !== "unreadable-1") return inner.get(orderId);
      unreadableReads++;
      throw new SyntaxError("Expected property name or '}' in JSON at position 1 (simulated)");
    },
  });
  // The carrier, unreachable (booking and lookup) for `unknown-1` until `reachable`.
  const simulated = new SimulatedCarrier();
  let reachable = false;
  let unknownCalls = 0;
  const down = (orderId: string) => {
    if (orderId !== "unknown-1" || reachable) return;
    unknownCalls++;
    throw new Error("carrier unreachable (simulated)");
  };
  const carrier: Carrier = {
    prepare: async (request, signal) => {
      down(request.orderId);
      return simulated.prepare(request, signal);
    },
    retrieve: async (key, signal) => {
      down(key.replace(/^shipment:/, ""));
      return simulated.retrieve(key, signal);
    },
    cancel: (key, orderId, signal) => simulated.cancel(key, orderId, signal),
    list: (page, signal) => simulated.list(page, signal),
  };
  let order: Publisher<typeof AllEvents>;
  ({ subscriber, order } = await startShippingConsumer(memory, store, carrier));
  for (const orderId of ["unreadable-1", "unknown-1"])
    await order.publish("shipping.shipment.requested", {
      orderId,
      userId: "u-1",
      items: [{ productId: "p-1", quantity: 1 }],
    });

  // Each delivery of `unknown-1` makes 2 carrier calls (book, then look up): 8 attempts' worth.
  await waitFor(
    async () => unknownCalls >= 16 && (unreadableReads >= 6 || (await memory.deadLetters.list()).length > 0),
    20_000,
    "8 attempts of the unknown outcome, and the unreadable record's dead letter (or 6 attempts)",
  );
  const parked = await memory.deadLetters.list();
  expect(parked.map((r) => [r.topic, r.reason])).toEqual([
    ["shipping.shipment.requested", expect.stringMatching(/^failed 3 attempts: Expected property name/)],
  ]);
  expect(unreadableReads).toBe(3);
  expect(parked[0]?.body).toContain("unreadable-1");

  // The carrier answers: the waiting request is prepared, nothing more dead-lettered.
  reachable = true;
  await waitFor(async () => (await inner.get("unknown-1"))?.status === "prepared", 10_000, "prepared");
  expect(await memory.deadLetters.list()).toHaveLength(1);
});
