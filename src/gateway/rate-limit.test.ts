import { describe, expect, it } from "vitest";
import { tokenBucket } from "./rate-limit.js";

describe("tokenBucket", () => {
  it("allows a burst, then one request per refill interval, and says how long to wait", () => {
    let now = 0;
    const take = tokenBucket({ perMinute: 60, burst: 2, monotonicNow: () => now });
    expect([take("a"), take("a")]).toEqual([0, 0]);
    expect(take("a")).toBe(1_000);
    now += 500;
    expect(take("a")).toBe(500);
    now += 500;
    expect(take("a")).toBe(0);
    expect(take("b")).toBe(0);
  });
});
