/**
 * The user service: owns users (unique emails), publishes their lifecycle events and answers the
 * saga's validation requests. Redis store when the platform has Redis, memory store otherwise.
 */
import type { AllEvents } from "../../contracts/catalog.js";
import { newMessageId } from "../../lib/bus/envelope.js";
import type { ServiceDefinition } from "../../lib/runtime/service-host.js";
import { platformStore } from "../../lib/runtime/platform-store.js";
import { createUserCommands } from "./commands.js";
import { registerUserHandlers } from "./handlers.js";
import { RedisUserStore } from "./redis-store.js";
import { userRoutes } from "./routes.js";
import { MemoryUserStore, type UserStore } from "./store.js";
import { PACKAGE_VERSION } from "../../lib/runtime/version.js";

export interface UserServiceOptions {
  /** Id generator for new users (default UUIDv7). */
  newId?: () => string;
  /** Overrides the platform-chosen store (tests). */
  store?: UserStore;
}

export function createUserService(options: UserServiceOptions = {}): ServiceDefinition<typeof AllEvents> {
  return {
    name: "user",
    version: PACKAGE_VERSION,
    create: (deps) => {
      const store =
        options.store ??
        platformStore<UserStore>(deps.platform, {
          redis: (redis, retention) => new RedisUserStore(redis, retention),
          memory: (publish) => new MemoryUserStore(publish),
        });
      const commands = createUserCommands({
        store,
        publisher: deps.publisher,
        now: deps.now,
        newId: options.newId ?? newMessageId,
      });
      const subscriber = deps.subscriber();
      registerUserHandlers(subscriber, store);
      return { subscribers: [subscriber], routes: userRoutes(commands) };
    },
  };
}

export const userService: ServiceDefinition<typeof AllEvents> = createUserService();
