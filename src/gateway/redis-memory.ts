/**
 * Redis memory, watched by the gateway (DESIGN.md: under `noeviction`, growth is an outage): Redis
 * at `maxmemory` refuses every write that may grow memory (503 STORE_OUT_OF_MEMORY), so its use is
 * read before that happens. `INFO memory` every 15 s (one read per gateway, never per request; the
 * first at start) gives the gauges `ordersaga_redis_memory_used_bytes` and
 * `ordersaga_redis_maxmemory_bytes` (0: no limit, as Redis reports it; both absent until the first
 * read succeeds, never a false 0) and GET /health's `redis` field. A failed read (Redis down, INFO
 * refused) leaves the last values and logs a warning once a minute at most; a read still unanswered
 * when the next one is due is not doubled.
 */
import { Gauge, type Registry } from "prom-client";
import type { Logger } from "../lib/observability/logger.js";

/** Period of the `INFO memory` reads (ms). */
export const REDIS_MEMORY_READ_INTERVAL_MS = 15_000;
/** Used / max at or over which GET /health says `degraded` (alert OrdersagaRedisMemoryCritical's threshold). */
export const REDIS_MEMORY_DEGRADED_RATIO = 0.95;
/** At most one warning per this many ms about failed reads (ms). */
export const REDIS_MEMORY_FAILURE_LOG_MS = 60_000;
/** A read unanswered after this long counts as failed (ms); the next is sent once it settles. */
const READ_BUDGET_MS = 5_000;

/** Redis's own numbers: `used_memory` and `maxmemory` (0: no limit), bytes. */
export interface RedisMemory {
  usedBytes: number;
  maxBytes: number;
}

/** `used_memory` and `maxmemory` of an `INFO memory` reply; undefined when either is missing. */
export function parseInfoMemory(info: string): RedisMemory | undefined {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:(\\d+)\\r?$`, "m").exec(info);
    return match ? Number(match[1]) : undefined;
  };
  const usedBytes = field("used_memory");
  const maxBytes = field("maxmemory");
  return usedBytes === undefined || maxBytes === undefined ? undefined : { usedBytes, maxBytes };
}

/** A limit is set (`maxmemory` > 0) and used is at least 95 % of it. */
export function memoryDegraded(memory: RedisMemory): boolean {
  return memory.maxBytes > 0 && memory.usedBytes >= memory.maxBytes * REDIS_MEMORY_DEGRADED_RATIO;
}

export interface RedisMemoryWatchOptions {
  /** The connection INFO is sent on (the gateway's platform connection: its ACL user has INFO). */
  redis: { info(section: "memory"): Promise<string> };
  /** Where the two gauges are registered (at the first successful read). */
  registry: Registry;
  logger: Pick<Logger, "warn">;
  /** Ms on a monotonic source: spaces the failure warnings. */
  monotonicNow: () => number;
  /** Default REDIS_MEMORY_READ_INTERVAL_MS. */
  intervalMs?: number;
}

export interface RedisMemoryWatch {
  /** The last successful read; undefined before the first. */
  last(): RedisMemory | undefined;
  /** Reads now and on every period after (the timer does not hold the process open). */
  start(): void;
  /** One read (what the timer runs); resolves when it has settled, never rejects. */
  read(): Promise<void>;
  /** Clears the timer (a read in flight settles unseen). */
  stop(): void;
}

export function watchRedisMemory(options: RedisMemoryWatchOptions): RedisMemoryWatch {
  const intervalMs = options.intervalMs ?? REDIS_MEMORY_READ_INTERVAL_MS;
  const used = new Gauge({
    name: "ordersaga_redis_memory_used_bytes",
    help: "Redis used_memory (INFO memory), bytes, read by the gateway every 15 s: the same on every gateway, max it",
    registers: [],
  });
  const max = new Gauge({
    name: "ordersaga_redis_maxmemory_bytes",
    help: "Redis maxmemory (INFO memory), bytes, 0 when no limit is set; writes are refused (noeviction) once used reaches it",
    registers: [],
  });
  let last: RedisMemory | undefined;
  let inFlight: Promise<void> | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  let lastWarnAt: number | undefined;
  let failuresSinceWarn = 0;

  const failed = (error: unknown) => {
    failuresSinceWarn++;
    const at = options.monotonicNow();
    if (lastWarnAt !== undefined && at - lastWarnAt < REDIS_MEMORY_FAILURE_LOG_MS) return;
    lastWarnAt = at;
    options.logger.warn(
      { err: error, failures: failuresSinceWarn },
      "could not read Redis memory (INFO memory): the redis memory gauges and /health keep the last values",
    );
    failuresSinceWarn = 0;
  };

  const readOnce = async () => {
    let budget: ReturnType<typeof setTimeout> | undefined;
    const answer = options.redis.info("memory");
    try {
      const info = await Promise.race([
        answer,
        new Promise<never>((_, reject) => {
          budget = setTimeout(
            () => reject(new Error(`no answer within ${READ_BUDGET_MS} ms`)),
            READ_BUDGET_MS,
          );
          budget.unref?.();
        }),
      ]);
      const memory = parseInfoMemory(info);
      if (!memory) throw new Error("INFO memory answered without used_memory or maxmemory");
      if (stopped) return;
      if (!last) {
        options.registry.registerMetric(used);
        options.registry.registerMetric(max);
      }
      last = memory;
      used.set(memory.usedBytes);
      max.set(memory.maxBytes);
    } catch (error) {
      if (!stopped) failed(error);
    } finally {
      clearTimeout(budget);
    }
    // The read that timed out may still settle: only then is the next one sent.
    await answer.catch(() => undefined);
  };

  const read = () => {
    inFlight ??= readOnce().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  return {
    last: () => last,
    start() {
      if (timer || stopped) return;
      void read();
      timer = setInterval(() => void read(), intervalMs);
      timer.unref?.();
    },
    read,
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
