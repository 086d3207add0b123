/** Wires the inventory service: store by platform, saga handlers, catalog routes, demo seed. */
import { configReadAtStart } from "../../lib/runtime/config-at-start.js";
import { z } from "zod";
import { type AllEvents, DEFAULT_MAX_ORDER_TOTAL_CENTS } from "../../contracts/index.js";
import { parseEnv } from "../../lib/runtime/config.js";
import { MUST_COMPLETE_MAX_SILENT_DELIVERIES } from "../../lib/bus/retry-policy.js";
import type { ServiceDefinition } from "../../lib/runtime/service-host.js";
import { platformStore } from "../../lib/runtime/platform-store.js";
import { DEMO_PRODUCTS, seedCatalog } from "./catalog.js";
import type { NewProduct } from "./domain.js";
import { registerInventoryHandlers } from "./handlers.js";
import { RedisInventoryStore } from "./redis-store.js";
import { registerInventoryRoutes } from "./routes.js";
import { type InventoryStore, MemoryInventoryStore } from "./store.js";
import { PACKAGE_VERSION } from "../../lib/runtime/version.js";

export interface InventoryServiceOptions {
  /** Products added at start when absent (default DEMO_PRODUCTS); false adds none. */
  seed?: false | readonly NewProduct[];
  /** Saga commands handled at once by this instance (default: the subscriber's). */
  concurrency?: number;
  /**
   * Largest order total in cents a reservation accepts; a larger order fails at once with
   * `order_total_too_large` (default `DEFAULT_MAX_ORDER_TOTAL_CENTS`, at most MAX_SAFE_INTEGER).
   */
  maxOrderTotalCents?: number;
  /**
   * Redis: decide-and-apply rounds of one stock change before it gives up (default 25); a restock
   * that gives up answers 503 BUSY.
   */
  maxAttempts?: number;
  /** Wraps the platform-chosen store (tests: a stall before a write). */
  wrapStore?: (store: InventoryStore) => InventoryStore;
}

const inventoryEnvSchema = z.object({
  MAX_ORDER_TOTAL_CENTS: z.coerce
    .number()
    .int()
    .positive()
    .max(Number.MAX_SAFE_INTEGER)
    .default(DEFAULT_MAX_ORDER_TOTAL_CENTS),
});

/** The inventory service's variables (`MAX_ORDER_TOTAL_CENTS`); throws `ConfigError` when invalid. */
export const inventoryConfigFromEnv = (env: NodeJS.ProcessEnv = process.env): InventoryServiceOptions => ({
  maxOrderTotalCents: parseEnv(inventoryEnvSchema, env).MAX_ORDER_TOTAL_CENTS,
});

export function createInventoryService(
  options: InventoryServiceOptions = {},
): ServiceDefinition<typeof AllEvents> {
  const seed = options.seed === false ? [] : (options.seed ?? DEMO_PRODUCTS);
  return {
    name: "inventory",
    version: PACKAGE_VERSION,
    create: (deps) => {
      const chosen = platformStore<InventoryStore>(deps.platform, {
        redis: (redis, retention) =>
          new RedisInventoryStore({
            redis,
            markerTtlMs: retention.markerTtlMs,
            ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
            ...(options.maxOrderTotalCents === undefined
              ? {}
              : { maxOrderTotal: options.maxOrderTotalCents }),
          }),
        memory: (publish) => new MemoryInventoryStore(publish, options.maxOrderTotalCents, deps.now),
      });
      const store = options.wrapStore?.(chosen) ?? chosen;
      const subscriber = deps.subscriber({
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        // A message that killed its process this many times is parked without running, whatever
        // its policy (as in payment and shipping): must-complete commits and releases get more than
        // the default policy's 3 (the bus's default for them), and so do reservations, which this
        // service has always given the same; a crash loop still ends in the DLQ where an operator sees it.
        retry: { maxSilentDeliveries: MUST_COMPLETE_MAX_SILENT_DELIVERIES },
      });
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

export const inventoryService: ServiceDefinition<typeof AllEvents> = configReadAtStart("inventory", () =>
  createInventoryService(inventoryConfigFromEnv()),
);
