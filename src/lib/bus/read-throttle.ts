/**
 * The read side of throttling middleware (the rate limiter): what the Subscriber hands its transport
 * so that it reads less instead of holding delivered messages (see transport.ts `ReadThrottle`).
 */
import type { ReadThrottle } from "./transport.js";

/** The throttles of the given middleware, as one (all must grant), or nothing when none throttles. */
export function readThrottleOf(middleware: readonly unknown[]): { throttle?: ReadThrottle } {
  const throttles = middleware.flatMap((layer) => {
    const throttle = (layer as { readThrottle?: ReadThrottle }).readThrottle;
    return throttle ? [throttle] : [];
  });
  return throttles.length === 0 ? {} : { throttle: allOf(throttles) };
}

/** A throttle that grants what every one of `throttles` grants. */
function allOf(throttles: readonly ReadThrottle[]): ReadThrottle {
  if (throttles.length === 1) return throttles[0]!;
  return {
    tryTake(max) {
      let granted = max;
      const taken: [ReadThrottle, number][] = [];
      for (const throttle of throttles) {
        const got = throttle.tryTake(granted);
        taken.push([throttle, got]);
        granted = Math.min(granted, got);
      }
      for (const [throttle, got] of taken) throttle.giveBack(got - granted);
      return granted;
    },
    giveBack: (count) => throttles.forEach((t) => t.giveBack(count)),
    waitMs: () => Math.max(...throttles.map((t) => t.waitMs())),
  };
}
