/** Wires the inventory service: store by platform, saga handlers, catalog routes, demo seed. */
import type { AllEvents } from "../../contracts/index.js";
import type { ServiceDefinition } from "../../lib/runtime/service-host.js";
import { platformStore } from "../../lib/runtime/platform-store.js";
import { DEMO_PRODUCTS, seedCatalog } from "./catalog.js";
import type { NewProduct } from "./domain.js";
import { registerInventoryHandlers } from "./handlers.js";
import { RedisInventoryStore } from "./redis-store.js";
import { registerInventoryRoutes } from "./routes.js";
import { type InventoryStore, MemoryInventoryStore } from "./store.js";

export interface InventoryServiceOptions {
  /** Products added at start when absent (default DEMO_PRODUCTS); false adds none. */
  seed?: false | readonly NewProduct[];
  /** Saga commands handled at once by this instance (default: the subscriber's). */
  concurrency?: number;
}

export function createInventoryService(
  options: InventoryServiceOptions = {},
): ServiceDefinition<typeof AllEvents> {
  const seed = options.seed === false ? [] : (options.seed ?? DEMO_PRODUCTS);
  return {
    name: "inventory",
    version: "1.0.0",
    create: (deps) => {
      const store = platformStore<InventoryStore>(deps.platform, {
        redis: (redis, retention) => new RedisInventoryStore({ redis, markerTtlMs: retention.markerTtlMs }),
        memory: (publish) => new MemoryInventoryStore(publish),
      });
      const subscriber = deps.subscriber(
        options.concurrency === undefined ? {} : { concurrency: options.concurrency },
      );
      registerInventoryHandlers(subscriber, store);
      const prepare = deps.publisher.prepare.bind(deps.publisher);
      return {
        subscribers: [subscriber],
        routes: (app) => registerInventoryRoutes(app, { store, prepare }),
        start: async () => {
          const added = await seedCatalog(store, seed, prepare);
          if (added.length > 0) deps.logger.info({ added }, "catalog seeded");
        },
      };
    },
  };
}

export const inventoryService = createInventoryService();
