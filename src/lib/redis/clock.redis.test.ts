import { describe, expect, it } from "vitest";
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
});
