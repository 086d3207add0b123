/**
 * break14 F4: during a Redis stall (SIGSTOP, VM pause, a long script) the 10 s timer kept starting
 * syncs while one waited, so `TIME` calls queued up; on resume the oldest reply was applied first
 * with an error of about stall/2 (its midpoint lies far before the moment Redis read its clock),
 * which was within its own error bound and so not a step; a `now()` between the replies raised the
 * monotonic floor, and the accurate syncs after it were not steps either: the clock stayed ~58 s
 * ahead of Redis after a 125 s stall, and `resync()` could not bring it back. Now a sync never
 * overlaps another one on the timer, a measurement whose error is above `CLOCK_MAX_ERROR_MS` does
 * not move the clock, and an accurate measurement showing the clock ahead of Redis by more than the
 * step threshold re-anchors it (reported as a backward step).
 * Deterministic: a fake `redis.time` whose replies wait for the test, a fake elapsed-time source and
 * fake interval timers; no real sleeps.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { CLOCK_STEP_THRESHOLD_MS, CLOCK_TIME_DEADLINE_MS, type ClockStep, redisTimeClock } from "./clock.js";

/** Redis whose commands can be stalled: while stalled, a `TIME` waits; Redis reads its clock when it resumes. */
function stallableRedis() {
  const state = { redisMs: 1_700_000_000_000, localMs: 5_000, calls: 0, stalled: false };
  const queued: (() => void)[] = [];
  const reading = () => [Math.floor(state.redisMs / 1_000), (state.redisMs % 1_000) * 1_000];
  return {
    state,
    queued,
    /** Real time passes: both clocks move by `ms`. */
    elapse(ms: number) {
      state.redisMs += ms;
      state.localMs += ms;
    },
    redis: {
      time: (): Promise<number[]> => {
        state.calls += 1;
        if (!state.stalled) return Promise.resolve(reading());
        // Redis serves the queued command only after it resumes: it reads its clock then.
        return new Promise((resolve) => queued.push(() => resolve(reading())));
      },
    },
    local: () => state.localMs,
  };
}

/** Lets every pending promise callback (a reply's continuation) run. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

afterEach(() => {
  vi.useRealTimers();
});

describe("Redis TIME shared clock: a Redis stall", () => {
  it("stays on Redis's time after a 125 s stall, with now() read between the queued replies", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const fake = stallableRedis();
    const clock = await redisTimeClock({ redis: fake.redis, local: fake.local, syncIntervalMs: 10_000 });
    const steps: ClockStep[] = [];
    clock.onStep((step) => steps.push(step));
    try {
      fake.elapse(2_000);
      expect(clock.now()).toBe(fake.state.redisMs);
      fake.state.stalled = true;
      // 125 s of stall, the 10 s timer ticking all along (a busy service reads the clock too).
      for (let s = 0; s < 125; s++) {
        fake.elapse(1_000);
        vi.advanceTimersByTime(1_000);
        clock.now();
      }
      const callsDuringStall = fake.state.calls - 1;
      fake.state.stalled = false;
      // Redis resumes and answers the queued commands one by one; a reply to the service between
      // two of them dates something on this clock.
      while (fake.queued.length > 0) {
        fake.queued.shift()!();
        await settle();
        clock.now();
        fake.elapse(1);
      }
      await settle();
      const aheadMs = clock.now() - fake.state.redisMs;
      expect(Math.abs(aheadMs)).toBeLessThanOrEqual(CLOCK_STEP_THRESHOLD_MS);
      // No overlapping syncs: the timer waits for the one in flight.
      expect(callsDuringStall).toBe(1);
      // The next ticks and a forced resync keep it there.
      fake.elapse(10_000);
      vi.advanceTimersByTime(10_000);
      await settle();
      await clock.resync();
      expect(Math.abs(clock.now() - fake.state.redisMs)).toBeLessThanOrEqual(CLOCK_STEP_THRESHOLD_MS);
      expect(steps).toEqual([]);
    } finally {
      clock.stop();
    }
  });

  it("a measurement with a round trip far above the bound does not move the clock", async () => {
    const fake = stallableRedis();
    const clock = await redisTimeClock({ redis: fake.redis, local: fake.local, syncIntervalMs: 3_600_000 });
    try {
      fake.elapse(10_000);
      fake.state.stalled = true;
      const slow = clock.sync();
      fake.elapse(40_000); // the reply comes 40 s later, Redis reading its clock at the end
      fake.state.stalled = false;
      fake.queued.shift()!();
      await slow;
      // Applied, the midpoint estimate would put the clock 20 s ahead.
      expect(clock.now()).toBe(fake.state.redisMs);
    } finally {
      clock.stop();
    }
  });

  it("an accurate measurement re-anchors a clock left ahead by an inaccurate one (reported as a backward step)", async () => {
    const fake = stallableRedis();
    // The very first measurement has nothing better to compare to: a 20 s round trip with Redis
    // reading its clock at the end puts the clock 10 s ahead, and now() is read meanwhile.
    fake.state.stalled = true;
    const starting = redisTimeClock({ redis: fake.redis, local: fake.local, syncIntervalMs: 3_600_000 });
    fake.elapse(20_000);
    fake.state.stalled = false;
    fake.queued.shift()!();
    const clock = await starting;
    const steps: ClockStep[] = [];
    clock.onStep((step) => steps.push(step));
    try {
      expect(clock.now() - fake.state.redisMs).toBe(10_000);
      fake.elapse(2_000);
      clock.now();
      // The offset moves back 10 s, less than the threshold plus the two measurements' errors
      // (10 s + 1 ms): not a step, but this accurate measurement shows the clock 10 s ahead.
      await clock.resync();
      expect(clock.now()).toBe(fake.state.redisMs);
      expect(steps).toEqual([{ direction: "backward", stepMs: -10_000, errorMs: expect.any(Number) }]);
      expect(clock.recentBackwardStepMs()).toBe(10_000);
    } finally {
      clock.stop();
    }
  });

  it("a TIME that never answers (half-open connection) fails at its deadline: the next tick syncs again, resync() returns", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout"] });
    const fake = stallableRedis();
    let hung = false;
    const redis = {
      time: (): Promise<number[]> => {
        // A reply lost on a half-open connection: this call never settles, later ones may answer.
        if (hung) {
          fake.state.calls += 1;
          return new Promise<number[]>(() => {});
        }
        return fake.redis.time();
      },
    };
    const clock = await redisTimeClock({ redis, local: fake.local, syncIntervalMs: 10_000 });
    const steps: ClockStep[] = [];
    clock.onStep((step) => steps.push(step));
    try {
      hung = true;
      fake.elapse(10_000);
      vi.advanceTimersByTime(10_000); // the tick's TIME is lost
      await settle();
      // A forced sync joins the lost measurement: it returns once the deadline has passed.
      let resynced = false;
      void clock.resync().then(() => (resynced = true));
      fake.elapse(CLOCK_TIME_DEADLINE_MS);
      vi.advanceTimersByTime(CLOCK_TIME_DEADLINE_MS);
      await settle();
      expect(resynced).toBe(true);
      // The connection is back, and Redis's clock stepped 30 s ahead meanwhile: the next tick
      // measures again and the clock follows.
      hung = false;
      fake.state.redisMs += 30_000;
      fake.elapse(10_000);
      vi.advanceTimersByTime(10_000);
      await settle();
      expect(clock.now()).toBe(fake.state.redisMs);
      expect(steps.map((s) => s.direction)).toEqual(["forward"]);
    } finally {
      clock.stop();
    }
  });
});
