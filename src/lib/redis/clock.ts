/**
 * One clock for every instance that shares a Redis: Redis's `TIME`. Times set by one machine and
 * checked by another (the saga's step deadlines, the bus's must-complete window counted from a
 * stream entry id, which is Redis's clock) break as soon as two machines' clocks disagree (input 5
 * of issue 8: orders failing "step timed out" milliseconds after the step began; issue 9: a consumer
 * whose clock runs an hour ahead dead-letters must-complete messages at once).
 * So such an instance reads time as Redis `TIME`: it measures its offset to Redis at start and every
 * `syncIntervalMs` (default 10 s), and never returns a time earlier than one it returned before (a
 * re-sync may move the offset back by the measurement error, half a round trip): except after a
 * step (below).
 * Between syncs the time elapses on a monotonic source (`performance.now`), not the wall clock: a
 * step of the host's wall clock (NTP step, VM resume) changes nothing (review money-break F3: with
 * `Date.now`, a 1 h forward step timed out every in-flight order before the next sync, then the
 * monotonic clamp pinned the clock 1 h ahead until real time caught up). A step of Redis's own
 * clock does move every instance's time at its next sync (docs/saga.md).
 *
 * Steps (break11 F1). A re-sync whose offset differs from the last one by more than
 * `CLOCK_STEP_THRESHOLD_MS` (1 s) plus both measurements' errors (half of each round trip, plus
 * 1 ms for `TIME` read to the ms) is a step of Redis's clock (NTP step on the Redis host, failover to
 * a server whose clock differs) or of this process's idea of it (a suspended VM's monotonic clock
 * stands still): not measurement noise. The clock follows Redis's time, the one every instance
 * shares, both ways: forward at once (as always), and backward too (it used to stay frozen at its
 * old high value until real time caught up: credentials and message ids dated in the future of
 * every process started after the step, so 403s and `CREATED_IN_FUTURE` dead letters for minutes,
 * and deadlines, dedupe windows and delivery times frozen). Each step is reported once to the
 * `onStep` listeners (the service host and the gateway log a warning and count
 * `ordersaga_clock_steps_total{direction}`). Smaller backward corrections stay clamped, so the
 * clock is monotonic except across a reported backward step; who needs more than that keeps its own
 * monotonic state (message ids: `messageIdGenerator` follows a step back larger than the same 1 s
 * and relies on its random bits for uniqueness). Why 1 s: far above the noise (a loopback or LAN
 * round trip is well under 10 ms, and a long one widens the tolerance by its own error; clock drift
 * over a 10 s sync interval is a few ms), and far below what the clock is judged by across machines
 * (the gateway credential's 30 s window, the 60 s `CREATED_IN_FUTURE` margin, capped at a tenth of
 * a short dedupe window): a clamped correction keeps the clock at most 1 s (plus the error) ahead of
 * Redis, for at most that long.
 *
 * After a step, each process follows it at its own next sync: for up to `syncIntervalMs` two
 * processes disagree by the step (clocksync9). Who is about to refuse something because of such a
 * disagreement (a delivery dated in its future, a gateway credential out of its window) calls
 * `resync()` first and checks again: a forced sync, at most one per `RESYNC_MIN_INTERVAL_MS` per
 * clock (a flood of refusals costs Redis one `TIME` a second), shared by concurrent callers. And
 * `recentBackwardStepMs()` tells a consumer that this clock stepped back recently and by how much:
 * messages dated ahead by up to that much were dated before their publisher followed the step
 * (lib/bus/middleware/dedupe-window.ts).
 *
 * Stalls (break14 F4). A measurement is only as good as its round trip: a `TIME` that waited out a
 * Redis stall (SIGSTOP, VM pause, a long script) for S seconds was read by Redis at the end of the
 * wait, and its midpoint estimate puts the clock up to S/2 ahead, within its own error, so it is no
 * "step". The timer used to start a sync every interval while one was waiting, a 125 s stall queued
 * 13, the oldest applied first, a `now()` between two replies raised the monotonic floor, and the
 * accurate syncs after it were within threshold plus the old error: the clock stayed ~58 s ahead
 * (gateway credentials refused, messages dated in every consumer's future) and `resync()` could not
 * bring it back. So: the timer skips a tick while a sync is in flight and `resync()` joins it (one
 * `TIME` waiting at a time); a measurement whose error is above `CLOCK_MAX_ERROR_MS` is not adopted,
 * unless it is the first, more accurate than the one in use, or shows a step beyond its own error;
 * and an adopted measurement showing the clock (its monotonic floor) ahead of Redis by more than the
 * threshold plus its error re-anchors it, reported as a backward step like any other, since values
 * this clock returned were dated ahead by that much.
 *
 * Lost replies (gaps9). A `TIME` that never answers (a half-open connection: the client has no
 * command timeout and keeps waiting) used to stay "in flight" for ever: the timer skipped every tick
 * and `resync()` joined it, so the clock never synced again and every forced sync hung. So each
 * measurement has a deadline, `CLOCK_TIME_DEADLINE_MS` (5 s) by default: past it the measurement
 * fails (`sync()` rejects, `resync()` returns), its reply is ignored if it ever comes, and the next
 * tick measures again. Why 5 s: ten times the error bound's round trip (a reply that late has an
 * error of 2.5 s and could only be adopted as a step), so it cuts off no measurement that would have
 * been used, and short enough that a forced sync (a consumer or the gateway about to refuse
 * something) waits at most that long. During a Redis stall this queues one `TIME` per tick, not per
 * second as before break14 F4, and the late replies of those past their deadline are discarded.
 */
import type { Redis } from "ioredis";

/**
 * Steps between this process's clock and the shared clock larger than measurement noise are
 * followed, not clamped, once they exceed this, in ms (plus the measurements' errors): see the
 * module comment for why 1 s.
 */
export const CLOCK_STEP_THRESHOLD_MS = 1_000;

/**
 * A measurement whose error (half its round trip, plus 1 ms) exceeds this, in ms, does not move the
 * clock unless nothing better is known or it shows a step: see the module comment (break14 F4). A
 * loopback or LAN round trip is well under 10 ms; a 1 s one is a stalled or overloaded Redis.
 */
export const CLOCK_MAX_ERROR_MS = 500;

/**
 * A `TIME` not answered within this many ms fails (the measurement counts as failed, its late reply
 * is ignored, and the next tick measures again): see the module comment ("Lost replies").
 */
export const CLOCK_TIME_DEADLINE_MS = 5_000;

/** Forced syncs (`resync`) of one clock are at least this far apart, ms. */
export const RESYNC_MIN_INTERVAL_MS = 1_000;

/**
 * How long (ms, on the clock's elapsed-time source) a backward step is remembered by
 * `recentBackwardStepMs`: every process syncs every 10 s, so a minute covers their catching up,
 * plus deliveries of the messages dated before (retries, a short backlog).
 */
export const RECENT_STEP_MS = 60_000;

/** A step of the shared clock, as one re-sync measured it. */
export interface ClockStep {
  /** `forward` (the clock jumped ahead) or `backward` (it went back: now re-anchored). */
  direction: "forward" | "backward";
  /** The change of the measured offset, ms: positive forward, negative backward. */
  stepMs: number;
  /**
   * How wrong `stepMs` may be, ms: half of each of the two round trips, plus 1 ms each (for a clock
   * found ahead of Redis and re-anchored without a step of the offset: this measurement's only).
   */
  errorMs: number;
}

/**
 * `now`, `sync` and `onStep` are properties, not methods: they never read `this`, so callers pass
 * `clock.now` itself where a `() => number` is wanted, without a wrapper around it.
 */
export interface SharedClock {
  /**
   * Epoch ms on the shared clock; never less than a value returned before, except after a
   * backward step reported to `onStep` listeners (more than `CLOCK_STEP_THRESHOLD_MS`).
   */
  readonly now: () => number;
  /**
   * Re-measures the offset to the shared clock (rejects when the measurement fails, also when `TIME`
   * has not answered within the deadline, `CLOCK_TIME_DEADLINE_MS`: ClockTimeDeadlineError).
   */
  readonly sync: () => Promise<void>;
  /**
   * A forced `sync()` before refusing something a lagging clock may explain: at most one per
   * `RESYNC_MIN_INTERVAL_MS` (a call sooner resolves at once, without measuring), and callers while
   * one is in flight share it. Never rejects: a failed measurement leaves the clock as it was.
   */
  resync(): Promise<void>;
  /**
   * The size (ms, positive) of the largest backward step this clock followed within the last
   * `RECENT_STEP_MS`, else 0.
   */
  recentBackwardStepMs(): number;
  /**
   * Calls `listener` once per step of the shared clock a re-sync measures (never for the first
   * measurement: there is nothing to compare it to). A throwing listener is ignored. Returns the
   * unsubscribe function.
   */
  readonly onStep: (listener: (step: ClockStep) => void) => () => void;
  stop(): void;
}

/** One process: the local clock is the only clock, made monotonic (no steps are reported). */
export function localClock(local: () => number = Date.now): SharedClock {
  let last = 0;
  return {
    now: () => (last = Math.max(last, local())),
    sync: async () => {},
    resync: async () => {},
    recentBackwardStepMs: () => 0,
    onStep: () => () => {},
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
  /**
   * A change of the offset beyond the measurements' errors larger than this, in ms, is a step:
   * followed both ways and reported (default `CLOCK_STEP_THRESHOLD_MS`, 1 s).
   */
  stepThresholdMs?: number;
  /** A measurement with a larger error (ms) is not adopted, see `CLOCK_MAX_ERROR_MS` (the default). */
  maxErrorMs?: number;
  /** A `TIME` not answered within this many ms fails (default `CLOCK_TIME_DEADLINE_MS`, 5 s). */
  timeDeadlineMs?: number;
}

/** A `TIME` that did not answer within the clock's deadline (the measurement failed). */
export class ClockTimeDeadlineError extends Error {
  constructor(deadlineMs: number) {
    super(`Redis TIME did not answer within ${deadlineMs} ms`);
    this.name = "ClockTimeDeadlineError";
  }
}

/** `redis.time()`, rejected with ClockTimeDeadlineError when it has not answered after `deadlineMs`. */
function timeWithin(redis: Pick<Redis, "time">, deadlineMs: number): Promise<number[]> {
  const reply: Promise<number[]> = redis.time();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClockTimeDeadlineError(deadlineMs)), deadlineMs);
    // A deadline must not keep the process alive on its own.
    timer.unref?.();
  });
  // A reply (or error) that comes after the deadline is dropped, not left unhandled.
  reply.catch(() => undefined);
  return Promise.race([reply, expired]).finally(() => clearTimeout(timer));
}

/**
 * Starts a clock on Redis `TIME`; resolves after the first measurement (rejects when it fails, or
 * with ClockTimeDeadlineError when `TIME` has not answered within the deadline).
 */
export async function redisTimeClock(options: RedisTimeClockOptions): Promise<SharedClock> {
  const local = options.local ?? monotonicMs;
  const thresholdMs = options.stepThresholdMs ?? CLOCK_STEP_THRESHOLD_MS;
  const maxErrorMs = options.maxErrorMs ?? CLOCK_MAX_ERROR_MS;
  const deadlineMs = options.timeDeadlineMs ?? CLOCK_TIME_DEADLINE_MS;
  const listeners = new Set<(step: ClockStep) => void>();
  let offset = 0;
  let offsetErrorMs = 0;
  let last = 0;
  // Measurements in the order they began: one that began earlier and answers later (two syncs
  // overlapping) is older news, and would look like a step back and forth.
  let begun = 0;
  let applied = 0;
  // Backward steps followed, as [local time seen, size ms], the last RECENT_STEP_MS of them.
  let backSteps: [number, number][] = [];
  // The latest measurement still waiting for its reply, if any: the timer and `resync()` do not
  // start another one beside it (break14 F4: a stall queued one `TIME` per tick).
  let inFlight: Promise<void> | undefined;
  const report = (step: ClockStep) => {
    for (const listener of listeners) {
      try {
        listener(step);
      } catch {
        // A listener's bug must not stop the clock from syncing.
      }
    }
  };
  const measure = async () => {
    const mine = ++begun;
    const before = local();
    const [seconds, micros] = await timeWithin(options.redis, deadlineMs);
    const after = local();
    if (mine < applied) return;
    const first = applied === 0;
    applied = mine;
    // The server read its clock somewhere in [before, after]: the midpoint halves the error.
    const measured = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000) - (before + after) / 2;
    const errorMs = (after - before) / 2 + 1;
    const stepMs = measured - offset;
    const stepErrorMs = errorMs + offsetErrorMs;
    const isStep = !first && Math.abs(stepMs) > thresholdMs + stepErrorMs;
    // A stalled round trip says little about the offset: keep the one in use unless this is all
    // there is, is better, or (even with its wide error) shows Redis's clock stepped.
    if (!first && !isStep && errorMs > maxErrorMs && errorMs >= offsetErrorMs) return;
    offset = measured;
    offsetErrorMs = errorMs;
    if (first) return;
    if (isStep) {
      // Backward: follow Redis's time instead of holding the old high value until it catches up.
      if (stepMs < 0) {
        last = 0;
        backSteps.push([after, -stepMs]);
      }
      report({
        direction: stepMs > 0 ? "forward" : "backward",
        stepMs: Math.round(stepMs),
        errorMs: Math.ceil(stepErrorMs),
      });
      return;
    }
    // No single sync looked like a step, yet the floor may hold the clock ahead of Redis (values
    // returned while a less accurate offset was in use): beyond the threshold plus this
    // measurement's error, re-anchor on Redis's time, as after a backward step.
    const aheadMs = last - (after + measured);
    if (aheadMs > thresholdMs + errorMs) {
      last = 0;
      backSteps.push([after, aheadMs]);
      report({ direction: "backward", stepMs: -Math.round(aheadMs), errorMs: Math.ceil(errorMs) });
    }
  };
  /** Always a new measurement (an explicit call wants a fresh one); the timer skips while one waits. */
  const sync = () => {
    const running = measure();
    inFlight = running;
    const clear = () => {
      if (inFlight === running) inFlight = undefined;
    };
    running.then(clear, clear);
    return running;
  };
  await sync();
  const timer = setInterval(() => {
    if (inFlight) return;
    void sync().catch(() => undefined);
  }, options.syncIntervalMs ?? 10_000);
  timer.unref();
  let forced: Promise<void> | undefined;
  let forcedAt = -Infinity;
  return {
    now: () => (last = Math.max(last, Math.round(local() + offset))),
    sync,
    resync: () => {
      if (forced) return forced;
      // A measurement already waiting answers for this one too: another `TIME` would only queue
      // behind it (a stalled Redis) and carry the same wait as its error.
      if (inFlight) return inFlight.catch(() => undefined);
      const at = local();
      if (at - forcedAt < RESYNC_MIN_INTERVAL_MS) return Promise.resolve();
      forcedAt = at;
      const running = sync()
        .catch(() => undefined)
        .finally(() => {
          forced = undefined;
        });
      forced = running;
      return running;
    },
    recentBackwardStepMs: () => {
      const since = local() - RECENT_STEP_MS;
      backSteps = backSteps.filter(([at]) => at >= since);
      return backSteps.reduce((largest, [, size]) => Math.max(largest, Math.round(size)), 0);
    },
    onStep: (listener) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    stop: () => clearInterval(timer),
  };
}
