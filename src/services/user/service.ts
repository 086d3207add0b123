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
import { requestDigest, type UserDataCipher, userDataCipherFromEnv } from "../../lib/security/user-data.js";

export interface UserServiceOptions {
  /** Id generator for new users (default UUIDv7). */
  newId?: () => string;
  /** Overrides the platform-chosen store (tests). */
  store?: UserStore;
  /**
   * Seals email and phone at rest and in events (default: from USER_DATA_KEYS and
   * USER_EMAIL_INDEX_KEY, or this process's development keys; see src/lib/security/user-data.ts).
   */
  cipher?: UserDataCipher;
  /** How long a `POST /users` Idempotency-Key is remembered (ms, default 24 h, as a restock's). */
  idempotencyTtlMs?: number;
}

export function createUserService(options: UserServiceOptions = {}): ServiceDefinition<typeof AllEvents> {
  return {
    name: "user",
    version: PACKAGE_VERSION,
    create: (deps) => {
      // Read here, not on import: a missing key in production is reported when the service starts.
      const cipher = options.cipher ?? userDataCipherFromEnv(process.env, { withIndex: true });
      const store =
        options.store ??
        platformStore<UserStore>(deps.platform, {
          redis: (redis, retention) => new RedisUserStore(redis, cipher, retention),
          memory: (publish) => new MemoryUserStore(publish, deps.now),
        });
      const commands = createUserCommands({
        store,
        publisher: deps.publisher,
        now: deps.now,
        newId: options.newId ?? newMessageId,
        seal: (userId, field, value) => cipher.seal(userId, field, value),
        digest: (request) => requestDigest(cipher, request),
        ...(options.idempotencyTtlMs === undefined ? {} : { idempotencyTtlMs: options.idempotencyTtlMs }),
      });
      const subscriber = deps.subscriber();
      registerUserHandlers(subscriber, store);
      return { subscribers: [subscriber], routes: userRoutes(commands) };
    },
  };
}

export const userService: ServiceDefinition<typeof AllEvents> = createUserService();
