/**
 * clocksync9: a process about to refuse something its lagging clock may explain (a delivery dated
 * in its future, a gateway credential out of its window) forces a sync first. Forced syncs are
 * rate-limited per clock (a flood of refusals must not become a flood of `TIME` calls) and shared
 * by concurrent callers; a backward step is remembered for a minute so a consumer can tell that a
 * message dated ahead was dated before its publisher followed the step.
 */
import { describe, expect, it } from "vitest";
import { RECENT_STEP_MS, RESYNC_MIN_INTERVAL_MS, redisTimeClock } from "./clock.js";

function fakeRedis() {
  const state = { redisMs: 1_700_000_000_000, localMs: 5_000, calls: 0 };
  return {
    state,
    elapse(ms: number) {
      state.redisMs += ms;
      state.localMs += ms;
    },
    redis: {
      time: async (): Promise<number[]> => {
        state.calls += 1;
        return [Math.floor(state.redisMs / 1_000), (state.redisMs % 1_000) * 1_000];
      },
    },
    local: () => state.localMs,
  };
}

describe("Redis TIME shared clock: forced re-syncs", () => {
  it("measures at most once per RESYNC_MIN_INTERVAL_MS, and concurrent callers share the one in flight", async () => {
    const fake = fakeRedis();
    const clock = await redisTimeClock({ redis: fake.redis, local: fake.local, syncIntervalMs: 3_600_000 });
    try {
      expect(fake.state.calls).toBe(1);
      fake.state.redisMs += 90_000; // Redis's clock stepped forward; this clock has not followed yet
      const a = clock.resync();
      const b = clock.resync();
      expect(b).toBe(a);
      await Promise.all([a, b]);
      expect(fake.state.calls).toBe(2);
      expect(clock.now()).toBe(fake.state.redisMs);
      // A refusal flood within the second: no more measurements.
      for (let i = 0; i < 100; i++) await clock.resync();
      fake.elapse(RESYNC_MIN_INTERVAL_MS - 1);
      await clock.resync();
      expect(fake.state.calls).toBe(2);
      fake.elapse(1);
      await clock.resync();
      expect(fake.state.calls).toBe(3);
    } finally {
      clock.stop();
    }
  });

  it("never rejects: a failed forced measurement leaves the clock as it was", async () => {
    const fake = fakeRedis();
    let fail = false;
    const redis = {
      time: async () => {
        if (fail) throw new Error("connection lost");
        return fake.redis.time();
      },
    };
    const clock = await redisTimeClock({ redis, local: fake.local, syncIntervalMs: 3_600_000 });
    try {
      const before = clock.now();
      fail = true;
      await expect(clock.resync()).resolves.toBeUndefined();
      expect(clock.now()).toBe(before);
    } finally {
      clock.stop();
    }
  });

  it("remembers a backward step it followed for RECENT_STEP_MS (the largest one), forward steps not at all", async () => {
    const fake = fakeRedis();
    const clock = await redisTimeClock({ redis: fake.redis, local: fake.local, syncIntervalMs: 3_600_000 });
    try {
      expect(clock.recentBackwardStepMs()).toBe(0);
      fake.state.redisMs += 30_000;
      await clock.sync();
      expect(clock.recentBackwardStepMs()).toBe(0);
      fake.state.redisMs -= 60_000;
      await clock.sync();
      expect(clock.recentBackwardStepMs()).toBe(60_000);
      fake.elapse(10_000);
      fake.state.redisMs -= 5_000;
      await clock.sync();
      expect(clock.recentBackwardStepMs()).toBe(60_000);
      fake.elapse(RECENT_STEP_MS - 10_000);
      expect(clock.recentBackwardStepMs()).toBe(60_000);
      fake.elapse(1);
      // The minute after the 60 s step is over; the 5 s one is younger.
      expect(clock.recentBackwardStepMs()).toBe(5_000);
      fake.elapse(10_000);
      expect(clock.recentBackwardStepMs()).toBe(0);
    } finally {
      clock.stop();
    }
  });
});
