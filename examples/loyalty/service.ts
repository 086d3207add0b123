/**
 * Step 3: the service, with the standard skeleton every service has: a definition whose `create`
 * picks the store for the platform (Redis or memory), subscribes its handlers in its own consumer
 * group and registers its HTTP routes; the host adds /health, /metrics, registration and heartbeats.
 */
import { z } from "zod";
import { parseInput } from "../../src/lib/http/server.js";
import { platformStore } from "../../src/lib/runtime/platform-store.js";
import type { ServiceDefinition } from "../../src/lib/runtime/service-host.js";
import type { ExampleEvents } from "./events.js";
import { type LoyaltyStore, MemoryLoyaltyStore, RedisLoyaltyStore } from "./store.js";
import { PACKAGE_VERSION } from "../../src/lib/runtime/version.js";

/** One point per whole 100 cents of the order's total. */
export const pointsFor = (totalCents: number): number => Math.floor(totalCents / 100);

const Params = z.object({ userId: z.string().min(1).max(200) });

export const loyaltyService: ServiceDefinition<ExampleEvents> = {
  name: "loyalty",
  version: PACKAGE_VERSION,
  create: (deps) => {
    const store = platformStore<LoyaltyStore>(deps.platform, {
      redis: (redis, retention) => new RedisLoyaltyStore(redis, retention.markerTtlMs),
      memory: (publish) => new MemoryLoyaltyStore(publish),
    });
    const subscriber = deps.subscriber();
    subscriber.on("order.completed", async ({ orderId, userId, total }, ctx) => {
      const points = pointsFor(total);
      const message = ctx.prepare("loyalty.points.awarded", { userId, orderId, points }).message;
      // The order id is the business key: a redelivery finds the mark and emits nothing.
      if (!(await store.award(userId, orderId, points, [message])))
        ctx.logger.debug({ orderId }, "already awarded");
    });
    return {
      subscribers: [subscriber],
      routes: (app) => {
        app.get("/loyalty/:userId", async (request) => {
          const { userId } = parseInput(Params, request.params);
          return { userId, points: await store.points(userId) };
        });
      },
    };
  },
};
