/**
 * The shipping service: prepares shipments with a (simulated) carrier, cancels them on
 * compensation, delivers prepared ones on a schedule, and serves shipment records.
 */
import type { AllEvents } from "../../contracts/index.js";
import type { ServiceDefinition } from "../../lib/runtime/service-host.js";
import { platformStore } from "../../lib/runtime/platform-store.js";
import { type Carrier, SimulatedCarrier } from "./carrier.js";
import { type DeliveryPoller, startDeliveryPoller } from "./delivery.js";
import { createShippingHandlers } from "./handlers.js";
import { RedisShippingStore } from "./redis-store.js";
import { registerShippingRoutes } from "./routes.js";
import { MemoryShippingStore, type ShippingStore } from "./store.js";
import { PACKAGE_VERSION } from "../../lib/runtime/version.js";

export interface ShippingServiceOptions {
  /** Default: the simulated carrier ("SimShip"). */
  carrier?: Carrier;
  /** How long the simulated carrier takes for `slowship-` products (default 60 s). */
  slowDelayMs?: number;
  /** A carrier call that takes longer goes unanswered (default 5 s). */
  carrierTimeoutMs?: number;
  /** Time from the order's completion (the saga's pivot) to delivered (default 5 s). */
  deliveryDelayMs?: number;
  /** How often due deliveries are polled (default 500 ms). */
  pollIntervalMs?: number;
  /** Clock for due times (default the host's clock); tests pass a fake one. */
  now?: () => number;
}

export function createShippingService(
  options: ShippingServiceOptions = {},
): ServiceDefinition<typeof AllEvents> {
  return {
    name: "shipping",
    version: PACKAGE_VERSION,
    create: (deps) => {
      const store = platformStore<ShippingStore>(deps.platform, {
        redis: (redis) => new RedisShippingStore(redis),
        memory: (publish) => new MemoryShippingStore(publish),
      });
      const now = options.now ?? deps.now;
      const handlers = createShippingHandlers({
        store,
        carrier:
          options.carrier ??
          new SimulatedCarrier(options.slowDelayMs === undefined ? {} : { slowDelayMs: options.slowDelayMs }),
        now,
        carrierTimeoutMs: options.carrierTimeoutMs ?? 5_000,
        deliveryDelayMs: options.deliveryDelayMs ?? 5_000,
      });
      const subscriber = deps
        .subscriber()
        .on("shipping.shipment.requested", handlers.shipmentRequested)
        // A compensation must happen: retried through outages for hours, never dead-lettered early.
        .on("order.compensation.shipment.cancel", handlers.cancelRequested, { policy: "must-complete" })
        // After the pivot the saga only goes forward: scheduling the delivery must happen too.
        .on("order.completed", handlers.orderCompleted, { policy: "must-complete" });
      let poller: DeliveryPoller | undefined;
      return {
        subscribers: [subscriber],
        routes: (app) => registerShippingRoutes(app, store),
        start: async () => {
          poller = startDeliveryPoller({
            store,
            publisher: deps.publisher,
            now,
            intervalMs: options.pollIntervalMs ?? 500,
            logger: deps.logger,
          });
        },
        stop: async () => {
          await poller?.stop();
        },
      };
    },
  };
}

export const shippingService = createShippingService();
