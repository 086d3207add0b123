/**
 * The shared infrastructure a service runs on: the bus transports, the dead-letter store, the
 * service registry and idempotency marks. Two flavours with the same behaviour: in-memory (the
 * embedded default: the whole system in one process) and Redis (each service its own process).
 */
import type { Redis } from "ioredis";
import { MemoryIdempotencyStore } from "../bus/idempotency/memory-store.js";
import { RedisIdempotencyStore } from "../bus/idempotency/redis-store.js";
import type { IdempotencyStore } from "../bus/idempotency/store.js";
import type { Transport } from "../bus/transport.js";
import { MemoryTransport } from "../bus/transports/memory.js";
import { RedisPubSubTransport } from "../bus/transports/redis-pubsub.js";
import { RedisStreamsTransport } from "../bus/transports/redis-streams.js";
import type { TransportLogger } from "../bus/transports/redis-streams-support.js";
import { MemoryServiceRegistry } from "../discovery/memory-registry.js";
import { RedisServiceRegistry } from "../discovery/redis-registry.js";
import type { ServiceRegistry } from "../discovery/types.js";
import type { DeadLetterStore } from "../dlq/dead-letter-store.js";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { RedisDeadLetterStore } from "../dlq/redis-dead-letter-store.js";
import { localClock, redisTimeClock, type SharedClock } from "../redis/clock.js";
import { type StopLogger, stopStep } from "./stop-step.js";
import { withTimeout } from "../resilience/timeout.js";
import { CoalescingRedis } from "./coalescing-redis.js";
import { DEFAULT_RETENTION, type RetentionPolicy } from "./retention.js";

export interface Platform {
  readonly mode: "memory" | "redis";
  /** Durable bus for everything that changes state (Streams, or in-memory with the same semantics). */
  readonly transport: Transport;
  /** Ephemeral bus for hints: heartbeats, registry changes, metrics (Pub/Sub over Redis). */
  readonly hints: Transport;
  readonly deadLetters: DeadLetterStore;
  readonly registry: ServiceRegistry;
  /** The command connection stores use; undefined in memory mode. */
  readonly redis: Redis | undefined;
  /** How long transient data is kept (marks, stream windows, DLQ audit): docs/storage.md. */
  readonly retention: RetentionPolicy;
  /**
   * The process's one shared clock on this platform (DESIGN §6: one clock for every instance):
   * Redis `TIME` through a measured offset (`redisTimeClock`) on Redis, this process's clock made
   * monotonic in memory. Started on first use, stopped by `close()`. The transport reads message
   * ages on it; the order saga sets and checks its deadlines on it.
   */
  clock(): Promise<SharedClock>;
  /** Idempotency marks in a namespace (a service's name: its keys go in its own hash slot). */
  idempotencyStore(namespace: string): IdempotencyStore;
  /** True when the backing store answers. */
  ping(): Promise<boolean>;
  /**
   * Stops the transports and drops the connections. On Redis their graceful stop waits at most
   * PLATFORM_CLOSE_BUDGET_MS (a warning to `logger` past it), then the connection is dropped anyway.
   */
  close(logger?: StopLogger): Promise<void>;
  /**
   * Gives the transports a logger when the platform was created without one (`RedisPlatformOptions.logger`):
   * the service host passes its own, so the transports' lines (a consumer group found missing, a lease
   * lost, a handler hung, a stop timed out...) reach the service's log. The first logger given stays
   * (several services may share a platform). Absent in memory (its transport logs nothing).
   */
  adoptLogger?(logger: TransportLogger): void;
}

/** Longest wait (ms) of a Redis platform's close for its transports, then the connection is dropped. */
export const PLATFORM_CLOSE_BUDGET_MS = 500;

export interface MemoryPlatformOptions {
  /** Idle time (ms) before a silent consumer's messages move to another (default 5 s). */
  claimIdleMs?: number;
  retention?: Partial<RetentionPolicy>;
}

export function createMemoryPlatform(options: MemoryPlatformOptions = {}): Platform {
  const retention: RetentionPolicy = { ...DEFAULT_RETENTION, ...options.retention };
  const deadLetters = new MemoryDeadLetterStore({ auditRetentionMs: retention.dlqAuditRetentionMs });
  const transport = new MemoryTransport({ deadLetters, claimIdleMs: options.claimIdleMs ?? 5_000 });
  const idempotency = new Map<string, IdempotencyStore>();
  const clock = localClock();
  return {
    mode: "memory",
    transport,
    hints: transport,
    deadLetters,
    registry: new MemoryServiceRegistry(),
    redis: undefined,
    retention,
    clock: async () => clock,
    idempotencyStore(namespace) {
      let store = idempotency.get(namespace);
      if (!store) {
        store = new MemoryIdempotencyStore();
        idempotency.set(namespace, store);
      }
      return store;
    },
    ping: async () => true,
    close: () => transport.close(),
  };
}

export interface RedisPlatformOptions {
  url: string;
  /** Redis ACL user and password (REDIS_USERNAME / REDIS_PASSWORD); override those in `url`. */
  username?: string;
  password?: string;
  /**
   * Idle time (ms) before another instance takes over a silent consumer's messages (default 5 s;
   * live handlers renew their leases, so only dead instances' work moves).
   */
  claimIdleMs?: number;
  /** Overrides of the defaults (`retentionFromEnv` for a process's environment). */
  retention?: Partial<RetentionPolicy>;
  onError?: (error: Error) => void;
  /** Consumers with nothing pending, unseen this long (ms), leave their groups (default 1 h). */
  deadConsumerMs?: number;
  /**
   * The shared clock to use instead of a `redisTimeClock` on this platform's connection: tests
   * age messages with it (a clock days ahead of Redis) instead of waiting. Not stopped by `close()`.
   */
  clock?: SharedClock;
  /**
   * Where the transports' own lines go (group missing and recreated, lease lost, handler hung,
   * trimmed entry dropped, stop timed out...). Unset: the first service host started on the
   * platform gives its logger (`adoptLogger`); before that, nothing is logged.
   */
  logger?: TransportLogger;
}

/**
 * A logger whose target is set later (or never): the transports keep this one object, so a logger
 * adopted after they were built still gets their lines (newuser17 F7).
 */
function adoptableLogger(initial: TransportLogger | undefined): {
  logger: TransportLogger;
  adopt: (logger: TransportLogger) => void;
} {
  let target = initial;
  return {
    logger: {
      debug: (object, message) => target?.debug(object, message),
      warn: (object, message) => target?.warn(object, message),
      error: (object, message) => target?.error(object, message),
    },
    adopt: (logger) => {
      target ??= logger;
    },
  };
}

export function createRedisPlatform(options: RedisPlatformOptions): Platform {
  // Each turn's commands in one write (coalescing-redis.ts), without auto-pipelining's cost.
  const redis = new CoalescingRedis(options.url, {
    maxRetriesPerRequest: null,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
  });
  redis.on("error", (error) => options.onError?.(error));
  const retention: RetentionPolicy = { ...DEFAULT_RETENTION, ...options.retention };
  const deadLetters = new RedisDeadLetterStore(redis, { auditRetentionMs: retention.dlqAuditRetentionMs });
  const shared = sharedRedisClock(redis, options.clock);
  // Before (newuser17 F7), no logger: every line of the transports was dropped in every service.
  const log = adoptableLogger(options.logger);
  const transport = new RedisStreamsTransport({
    redis,
    logger: log.logger,
    deadLetters,
    clock: shared.get,
    claimIdleMs: options.claimIdleMs ?? 5_000,
    ...(options.deadConsumerMs === undefined ? {} : { deadConsumerMs: options.deadConsumerMs }),
    // No trim loop here: each service's StreamTrimmer (service host) trims the streams it owns.
  });
  const hints = new RedisPubSubTransport({ redis, deadLetters, logger: log.logger });
  return {
    mode: "redis",
    transport,
    hints,
    deadLetters,
    registry: new RedisServiceRegistry({ redis }),
    redis,
    retention,
    clock: shared.get,
    adoptLogger: log.adopt,
    idempotencyStore: (namespace) => new RedisIdempotencyStore(redis, `{${namespace}}:idem:`),
    // Commands wait for a reconnect (maxRetriesPerRequest: null), so a health probe must not:
    // it answers "down" after a second instead of hanging while Redis is away.
    ping: async () => {
      try {
        return (await withTimeout(redis.ping(), 1_000)) === "PONG";
      } catch {
        return false;
      }
    },
    close: async (logger) => {
      // Bounded (edge20): with Redis paused or down the subscriptions' stop waits on it; dropping
      // the connection then fails what still waits, and the stop goes on.
      await stopStep(
        logger ?? { warn: () => undefined },
        "bus close",
        PLATFORM_CLOSE_BUDGET_MS,
        "the connection is dropped; unacknowledged entries stay pending for another instance",
        async () => {
          await hints.close();
          await transport.close();
          await shared.stop();
        },
      );
      redis.disconnect();
    },
  };
}

/**
 * One `redisTimeClock` per platform, started on first use (a failed first sync is retried by the
 * next caller), or the clock given. Before, the transport, the service host and the order saga
 * each measured their own: three clocks a process, three offsets that could disagree.
 */
function sharedRedisClock(
  redis: Redis,
  given: SharedClock | undefined,
): { get: () => Promise<SharedClock>; stop: () => Promise<void> } {
  let started: Promise<SharedClock> | undefined = given ? Promise.resolve(given) : undefined;
  return {
    get: () => {
      if (started) return started;
      const clock = redisTimeClock({ redis });
      started = clock;
      clock.catch(() => {
        if (started === clock) started = undefined;
      });
      return clock;
    },
    stop: async () => {
      if (given) return;
      (await started?.catch(() => undefined))?.stop();
    },
  };
}

/**
 * Redis settings that break the promises (DESIGN.md §2): eviction would drop queue entries, and
 * without AOF a crash loses acknowledged writes. Returns human-readable warnings.
 */
export async function checkRedisDurability(redis: Redis): Promise<string[]> {
  const warnings: string[] = [];
  const { policy, aof } = await durabilitySettings(redis);
  if (policy !== "noeviction") warnings.push(`maxmemory-policy is "${policy}": queues need "noeviction"`);
  if (aof !== "yes")
    warnings.push("appendonly is off: a Redis crash loses acknowledged events (use AOF everysec)");
  return warnings;
}

/**
 * maxmemory-policy and appendonly, read from INFO rather than CONFIG GET: every service's Redis ACL
 * user may run INFO but not CONFIG (CONFIG GET would also show secrets such as `requirepass`).
 */
async function durabilitySettings(redis: Redis): Promise<{ policy: string; aof: string }> {
  const info = await redis.info();
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim() ?? "";
  return { policy: field("maxmemory_policy"), aof: field("aof_enabled") === "1" ? "yes" : "no" };
}
