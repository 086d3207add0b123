/**
 * One clock for every instance that shares a Redis: Redis's `TIME`. Times set by one machine and
 * checked by another (the saga's step deadlines, the bus's must-complete window counted from a
 * stream entry id, which is Redis's clock) break as soon as two machines' clocks disagree (input 5
 * of issue 8: orders failing "step timed out" milliseconds after the step began; issue 9: a consumer
 * whose clock runs an hour ahead dead-letters must-complete messages at once).
 * So such an instance reads time as Redis `TIME`: it measures its offset to Redis at start and every
 * `syncIntervalMs` (default 10 s), and never returns a time earlier than one it returned before (a
 * re-sync may move the offset back by the measurement error, half a round trip).
 * Between syncs the time elapses on a monotonic source (`performance.now`), not the wall clock: a
 * step of the host's wall clock (NTP step, VM resume) changes nothing (review money-break F3: with
 * `Date.now`, a 1 h forward step timed out every in-flight order before the next sync, then the
 * monotonic clamp pinned the clock 1 h ahead until real time caught up). A step of Redis's own
 * clock does move every instance's time at its next sync (docs/saga.md).
 */
import type { Redis } from "ioredis";

export interface SharedClock {
  /** Epoch ms on the shared clock; never less than a value returned before. */
  now(): number;
  /** Re-measures the offset to the shared clock. */
  sync(): Promise<void>;
  stop(): void;
}

/** One process: the local clock is the only clock, made monotonic. */
export function localClock(local: () => number = Date.now): SharedClock {
  let last = 0;
  return {
    now: () => (last = Math.max(last, local())),
    sync: async () => {},
    stop: () => {},
  };
}

/** Epoch-based ms from a monotonic source: runs at the wall clock's rate, never steps with it. */
export const monotonicMs = (): number => performance.timeOrigin + performance.now();

export interface RedisTimeClockOptions {
  redis: Pick<Redis, "time">;
  /**
   * The instance's own elapsed-time source (default `monotonicMs`); only its rate matters, not its
   * setting, and it must not step: never pass `Date.now` (a wall-clock step would move the time).
   */
  local?: () => number;
  /** How often the offset is measured again, in ms (default 10 s). */
  syncIntervalMs?: number;
}

/** Starts a clock on Redis `TIME`; resolves after the first measurement. */
export async function redisTimeClock(options: RedisTimeClockOptions): Promise<SharedClock> {
  const local = options.local ?? monotonicMs;
  let offset = 0;
  let last = 0;
  const sync = async () => {
    const before = local();
    const [seconds, micros] = await options.redis.time();
    const after = local();
    // The server read its clock somewhere in [before, after]: the midpoint halves the error.
    offset = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000) - (before + after) / 2;
  };
  await sync();
  const timer = setInterval(() => void sync().catch(() => undefined), options.syncIntervalMs ?? 10_000);
  timer.unref();
  return {
    now: () => (last = Math.max(last, Math.round(local() + offset))),
    sync,
    stop: () => clearInterval(timer),
  };
}
