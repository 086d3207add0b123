/**
 * The notification service: projects users' contacts from the user events and notifies them of
 * their orders through simulated channel providers, once per fact and channel.
 */

import type { AllEvents } from "../../contracts/catalog.js";
import { exponentialBackoff } from "../../lib/resilience/backoff.js";
import type { ServiceDefinition } from "../../lib/runtime/service-host.js";
import { platformStore } from "../../lib/runtime/platform-store.js";
import { registerNotificationHandlers } from "./handlers.js";
import { createNotifier } from "./notifier.js";
import { RedisSendLedger } from "./provider-redis-ledger.js";
import { type ChannelProvider, MemorySendLedger, type SendLedger, SimulatedProviders } from "./providers.js";
import { RedisNotificationStore } from "./redis-store.js";
import { notificationRoutes } from "./routes.js";
import { MemoryNotificationStore, type NotificationStore } from "./store.js";
import { PACKAGE_VERSION } from "../../lib/runtime/version.js";
import { type UserDataCipher, userDataCipherFromEnv } from "../../lib/security/user-data.js";

export interface NotificationServiceOptions {
  /**
   * The channel providers (default: SimulatedProviders whose idempotency ledger is in Redis, shared
   * by every instance, or in memory on the memory platform). Tests share one.
   */
  provider?: ChannelProvider;
  /** A notification's id from its dedupe key (default notificationIdOf: the same on every delivery). */
  newId?: (key: string) => string;
  /** Overrides the platform-chosen store (tests). */
  store?: NotificationStore;
  /**
   * Opens users' sealed email and phone to send (default: from USER_DATA_KEYS, or this process's
   * development keys; src/lib/security/user-data.ts). No email index key: this service only opens.
   */
  cipher?: UserDataCipher;
}

export function createNotificationService(
  options: NotificationServiceOptions = {},
): ServiceDefinition<typeof AllEvents> {
  return {
    name: "notification",
    version: PACKAGE_VERSION,
    create: (deps) => {
      const store =
        options.store ??
        platformStore<NotificationStore>(deps.platform, {
          redis: (redis) => new RedisNotificationStore(redis),
          memory: (publish) => new MemoryNotificationStore(publish),
        });
      const notifier = createNotifier({
        store,
        provider:
          options.provider ??
          new SimulatedProviders({
            now: deps.now,
            ledger: platformStore<SendLedger>(deps.platform, {
              redis: (redis, retention) => new RedisSendLedger(redis, retention.markerTtlMs),
              memory: () => new MemorySendLedger(),
            }),
          }),
        now: deps.now,
        ...(options.newId ? { newId: options.newId } : {}),
        // Read here, not on import: a missing key in production is reported when the service starts.
        cipher: options.cipher ?? userDataCipherFromEnv(process.env),
      });
      // A user's profile may reach this service a little after the first order event about them:
      // USER_UNKNOWN is retried for about a minute before the message is dead-lettered.
      const subscriber = deps.subscriber({
        retry: { maxAttempts: 8, backoff: exponentialBackoff({ baseMs: 200, maxMs: 15_000 }) },
      });
      registerNotificationHandlers(subscriber, store, notifier);
      return { subscribers: [subscriber], routes: notificationRoutes(store) };
    },
  };
}

export const notificationService: ServiceDefinition<typeof AllEvents> = createNotificationService();
