/**
 * Test support: a shipping consumer on the memory platform, registered as the service registers its
 * handlers, with short retry delays (3 attempts 5 ms apart; must-complete 5–20 ms), and a publisher
 * playing the order service. Used by the retry tests (request-retries, waiting-retries-budget,
 * handlers).
 */
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import type { createMemoryPlatform } from "../../lib/runtime/platform.js";
import type { Carrier } from "./carrier.js";
import { createShippingHandlers } from "./handlers.js";
import { registerShippingHandlers } from "./service.js";
import type { ShippingStore } from "./store.js";

export interface ShippingConsumer {
  subscriber: Subscriber<typeof AllEvents, typeof AllEvents>;
  /** Publishes as the order service. */
  order: Publisher<typeof AllEvents>;
}

/** Starts the consumer (groups ensured); stop `subscriber` when done. */
export async function startShippingConsumer(
  memory: ReturnType<typeof createMemoryPlatform>,
  store: ShippingStore,
  carrier: Carrier,
): Promise<ShippingConsumer> {
  const handlers = createShippingHandlers({
    store,
    carrier,
    now: Date.now,
    carrierTimeoutMs: 5_000,
    carrierRetrieveTries: 1,
    carrierRetrieveBackoffMs: 1,
    deliveryDelayMs: 60_000,
  });
  const subscriber = new Subscriber({
    events: AllEvents,
    transport: memory.transport,
    group: "shipping",
    consumer: "shipping-1",
    publisher: new Publisher({
      events: AllEvents,
      transport: memory.transport,
      source: { service: "shipping", instance: "shipping-1" },
    }),
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
  return { subscriber, order };
}
