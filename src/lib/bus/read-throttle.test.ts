import { describe, expect, it } from "vitest";
import { createRateLimitMiddleware } from "./middleware/rate-limit.js";
import { readThrottleOf } from "./read-throttle.js";

describe("readThrottleOf", () => {
  it("has no throttle without throttling middleware, or with a per-event limiter", () => {
    const perEvent = createRateLimitMiddleware({ maxEvents: 1, windowMs: 1_000, perEvent: true });
    expect(readThrottleOf([async () => {}, perEvent])).toEqual({});
  });

  it("grants what every limiter grants, and leaves the others' windows as they were", () => {
    const clock = () => 0;
    const wide = createRateLimitMiddleware({ maxEvents: 10, windowMs: 1_000, now: clock });
    const narrow = createRateLimitMiddleware({ maxEvents: 2, windowMs: 1_000, now: clock });
    const { throttle } = readThrottleOf([wide, narrow]);
    expect(throttle?.tryTake(5)).toBe(2);
    expect(throttle?.tryTake(5)).toBe(0);
    expect(wide.readThrottle?.tryTake(10)).toBe(8);
  });
});
