import type { Redis } from "ioredis";
import type { OutgoingMessage } from "../bus/transport.js";
import type { Platform } from "./platform.js";
import type { RetentionPolicy } from "./retention.js";

/** How an in-memory store emits the messages it writes with its state. */
export type PublishMessages = (messages: readonly OutgoingMessage[]) => Promise<void>;

export interface StoreAdapters<S> {
  /** The Redis adapter; `retention` says how long its transient marks live (docs/storage.md). */
  redis: (redis: Redis, retention: RetentionPolicy) => S;
  memory: (publish: PublishMessages) => S;
}

/**
 * A service's state store on this platform: the Redis adapter when there is Redis, else the
 * in-memory one, publishing its outbox on the durable transport (never the hints bus, which may
 * drop messages).
 */
export function platformStore<S>(platform: Platform, adapters: StoreAdapters<S>): S {
  const { redis, transport, retention } = platform;
  return redis
    ? adapters.redis(redis, retention)
    : adapters.memory((messages) => transport.publish(messages));
}
