/**
 * The commit after the pivot must go forward (money-break F10): it rides the must-complete policy,
 * so a store that keeps failing for a while (a Redis blip, contention) delays it, never parks it.
 */
import { afterEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { registerInventoryHandlers } from "./handlers.js";
import type { InventoryStore } from "./store.js";

let platform: Platform | undefined;
let subscriber: Subscriber<typeof AllEvents, typeof AllEvents> | undefined;
afterEach(async () => {
  await subscriber?.stop();
  await platform?.close();
});

it("a stock commit of a completed order that fails more often than the default 3 attempts is retried until it succeeds, not dead-lettered", async () => {
  platform = createMemoryPlatform();
  let failures = 6;
  let commits = 0;
  const store = {
    commit: async () => {
      if (failures-- > 0) throw new Error("store unreachable (simulated)");
      commits++;
      return { kind: "noop", state: "committed" };
    },
  } as unknown as InventoryStore;
  subscriber = new Subscriber({
    events: AllEvents,
    transport: platform.transport,
    group: "inventory",
    consumer: "inventory-1",
    // Short delays for the test; the default policy would dead-letter on the 3rd failure.
    retry: { maxAttempts: 3, backoff: () => 5 },
    mustComplete: { baseDelayMs: 5, maxDelayMs: 20 },
  });
  registerInventoryHandlers(subscriber, store);
  await platform.transport.ensureGroups("inventory", subscriber.topics());
  await subscriber.start();
  const order = new Publisher({
    events: AllEvents,
    transport: platform.transport,
    source: { service: "order", instance: "test" },
  });
  await order.publish("inventory.commit.requested", { orderId: "done-1" });
  await waitFor(() => commits === 1, 10_000, "commit went through");
  expect(await platform.deadLetters.list()).toEqual([]);
});
