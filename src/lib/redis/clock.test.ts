/**
 * break11 F1: when Redis's own clock stepped back (NTP step on the Redis host, failover to a replica
 * whose clock is behind), `redisTimeClock` froze every running process at its old high value until
 * real time caught up: gateway credentials and message ids dated in the future of freshly started
 * processes (403s, `CREATED_IN_FUTURE`), deadlines and windows frozen. A step larger than the
 * threshold plus the measurement error now re-anchors the clock on Redis's time and is reported.
 * Redis's clock cannot be stepped in a test: `redis.time` is a fake here.
 */
import { describe, expect, it } from "vitest";
import { CLOCK_STEP_THRESHOLD_MS, type ClockStep, redisTimeClock } from "./clock.js";

/** A fake Redis `TIME` and a fake elapsed-time source; `rttMs` is the next round trip's length. */
function fakeRedis(startMs = 1_700_000_000_000) {
  const state = { redisMs: startMs, localMs: 5_000, rttMs: 0 };
  return {
    state,
    /** Real time passes: both clocks move by `ms`. */
    elapse(ms: number) {
      state.redisMs += ms;
      state.localMs += ms;
    },
    redis: {
      // The server reads its clock as the call starts; the reply arrives `rttMs` later.
      time: async (): Promise<number[]> => {
        const reading = [Math.floor(state.redisMs / 1_000), (state.redisMs % 1_000) * 1_000];
        state.redisMs += state.rttMs;
        state.localMs += state.rttMs;
        return reading;
      },
    },
    local: () => state.localMs,
  };
}

async function startClock(fake: ReturnType<typeof fakeRedis>) {
  const clock = await redisTimeClock({ redis: fake.redis, local: fake.local, syncIntervalMs: 3_600_000 });
  const steps: ClockStep[] = [];
  clock.onStep((step) => steps.push(step));
  return { clock, steps };
}

describe("Redis TIME shared clock: steps of Redis's clock", () => {
  it("follows Redis after a 60 s backward step instead of freezing, and reports it once", async () => {
    const fake = fakeRedis();
    const { clock, steps } = await startClock(fake);
    try {
      fake.elapse(10_000);
      const before = clock.now();
      expect(before).toBe(fake.state.redisMs);
      fake.state.redisMs -= 60_000; // NTP steps the Redis host's clock back a minute
      await clock.sync();
      // Within the threshold of Redis's time (exactly: the fake round trip takes no time).
      expect(Math.abs(clock.now() - fake.state.redisMs)).toBeLessThanOrEqual(CLOCK_STEP_THRESHOLD_MS);
      expect(clock.now()).toBe(fake.state.redisMs);
      expect(steps).toEqual([{ direction: "backward", stepMs: -60_000, errorMs: expect.any(Number) }]);
      // And runs on from there, monotonic again.
      fake.elapse(1_500);
      expect(clock.now()).toBe(fake.state.redisMs);
      await clock.sync();
      expect(steps).toHaveLength(1);
    } finally {
      clock.stop();
    }
  });

  it("keeps a small backward correction (2 ms) clamped: never earlier than a time it returned", async () => {
    const fake = fakeRedis();
    const { clock, steps } = await startClock(fake);
    try {
      fake.elapse(10_000);
      const before = clock.now();
      fake.state.redisMs -= 2;
      await clock.sync();
      expect(clock.now()).toBe(before);
      fake.elapse(5);
      expect(clock.now()).toBe(before + 3);
      expect(steps).toEqual([]);
    } finally {
      clock.stop();
    }
  });

  it("does not take a slow round trip's error for a step", async () => {
    const fake = fakeRedis();
    // A bound on the error above this round trip's: the measurement is adopted (break14 F4 below).
    const clock = await redisTimeClock({
      redis: fake.redis,
      local: fake.local,
      syncIntervalMs: 3_600_000,
      maxErrorMs: 10_000,
    });
    const steps: ClockStep[] = [];
    clock.onStep((step) => steps.push(step));
    try {
      fake.elapse(10_000);
      const before = clock.now();
      // A 3 s round trip with the server reading its clock at the very start: the midpoint estimate
      // is 1.5 s behind the truth, inside the measurement's error (half the round trip).
      fake.state.rttMs = 3_000;
      await clock.sync();
      expect(clock.now()).toBe(before + 1_500);
      expect(steps).toEqual([]);
    } finally {
      clock.stop();
    }
  });

  it("does not adopt a measurement whose error exceeds CLOCK_MAX_ERROR_MS (break14 F4)", async () => {
    const fake = fakeRedis();
    const { clock, steps } = await startClock(fake);
    try {
      fake.elapse(10_000);
      const before = clock.now();
      // The same 3 s round trip: the clock keeps its accurate offset and runs on Redis's time.
      fake.state.rttMs = 3_000;
      await clock.sync();
      expect(clock.now()).toBe(before + 3_000);
      expect(clock.now()).toBe(fake.state.redisMs);
      expect(steps).toEqual([]);
    } finally {
      clock.stop();
    }
  });

  it("moves forward at once on a forward step, and reports it", async () => {
    const fake = fakeRedis();
    const { clock, steps } = await startClock(fake);
    try {
      fake.elapse(10_000);
      fake.state.redisMs += 60_000;
      await clock.sync();
      expect(clock.now()).toBe(fake.state.redisMs);
      expect(steps).toEqual([{ direction: "forward", stepMs: 60_000, errorMs: expect.any(Number) }]);
    } finally {
      clock.stop();
    }
  });

  it("keeps the newer of two overlapping measurements (an old one finishing late changes nothing)", async () => {
    const fake = fakeRedis();
    const { clock, steps } = await startClock(fake);
    try {
      fake.elapse(10_000);
      let release: (() => void) | undefined;
      const time = fake.redis.time;
      // The first measurement reads the time before the step, and answers after the second.
      fake.redis.time = async () => {
        const reading = await time();
        await new Promise<void>((resolve) => (release = resolve));
        return reading;
      };
      const stale = clock.sync();
      fake.redis.time = time;
      fake.state.redisMs -= 60_000;
      await clock.sync();
      release!();
      await stale;
      expect(clock.now()).toBe(fake.state.redisMs);
      expect(steps.map((s) => s.direction)).toEqual(["backward"]);
    } finally {
      clock.stop();
    }
  });

  it("a listener that throws does not break the sync", async () => {
    const fake = fakeRedis();
    const { clock, steps } = await startClock(fake);
    clock.onStep(() => {
      throw new Error("listener bug");
    });
    try {
      fake.state.redisMs -= 60_000;
      await clock.sync();
      expect(clock.now()).toBe(fake.state.redisMs);
      expect(steps).toHaveLength(1);
    } finally {
      clock.stop();
    }
  });
});
