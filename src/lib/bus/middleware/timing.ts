import type { SubscriberMiddleware } from "../subscriber.js";

export type TimingCallback = (eventName: string, durationMs: number, outcome: "success" | "failure") => void;

/** Reports how long the rest of the chain (later middleware and the handlers) took, success or not. */
export function createSubscriberTimingMiddleware(
  onTiming: TimingCallback,
  now: () => number = performance.now.bind(performance),
): SubscriberMiddleware {
  return async (ctx, next) => {
    const started = now();
    try {
      await next();
      onTiming(ctx.event, now() - started, "success");
    } catch (error) {
      onTiming(ctx.event, now() - started, "failure");
      throw error;
    }
  };
}
