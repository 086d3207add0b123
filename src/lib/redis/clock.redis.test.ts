import { afterEach, describe, expect, it, vi } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { localClock, redisTimeClock } from "./clock.js";

describe("local shared clock", () => {
  it("never goes backwards when the local clock does", () => {
    let t = 1_000;
    const clock = localClock(() => t);
    expect(clock.now()).toBe(1_000);
    t = 500;
    expect(clock.now()).toBe(1_000);
  });
});

describeWithRedis("Redis TIME shared clock", (getRedis) => {
  it("two instances whose local clocks differ by an hour read the same time", async () => {
    const redis = getRedis().client();
    const ahead = await redisTimeClock({ redis, local: () => Date.now() + 3_600_000 });
    const behind = await redisTimeClock({ redis, local: () => Date.now() - 3_600_000 });
    try {
      const [seconds, micros] = await redis.time();
      const server = Number(seconds) * 1_000 + Number(micros) / 1_000;
      // Within the measurement error (half a loopback round trip), generously bounded for a busy box.
      expect(Math.abs(ahead.now() - server)).toBeLessThan(1_000);
      expect(Math.abs(behind.now() - ahead.now())).toBeLessThan(1_000);
    } finally {
      ahead.stop();
      behind.stop();
    }
  });

  afterEach(() => vi.restoreAllMocks());

  it("a forward step of the host's wall clock between syncs changes nothing (review F3)", async () => {
    const redis = getRedis().client();
    const serverNow = async () => {
      const [seconds, micros] = await redis.time();
      return Number(seconds) * 1_000 + Number(micros) / 1_000;
    };
    // A host wall clock that steps (Date.now patched before the service starts, as the review's
    // `node --import` hook did); the clock is the default one, as the services start it.
    const real = Date.now.bind(Date);
    let step = 0;
    vi.spyOn(Date, "now").mockImplementation(() => real() + step);
    const clock = await redisTimeClock({ redis, syncIntervalMs: 600_000 });
    step = 3_600_000; // NTP steps the wall clock 1 h forward between syncs
    try {
      expect(Date.now() - real()).toBeGreaterThanOrEqual(3_600_000);
      expect(Math.abs(clock.now() - (await serverNow()))).toBeLessThan(1_000);
      // A re-sync after the step measures against the same monotonic source: still right.
      await clock.sync();
      expect(Math.abs(clock.now() - (await serverNow()))).toBeLessThan(1_000);
    } finally {
      clock.stop();
    }
  });
});
