import type { SubscriberMiddleware } from "../subscriber.js";

export interface RateLimitOptions {
  /** Events let through per window. */
  maxEvents: number;
  windowMs: number;
  /** Called each time a message has to wait for the window. */
  onLimit?: (eventName: string, waitMs: number) => void;
  /** Limit per event name instead of for all events together (default false). */
  perEvent?: boolean;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sliding-window limit of `maxEvents` per `windowMs`. Over the limit a message is *delayed*, never
 * dropped: it waits until the window has room, holding one of the subscriber's concurrency slots,
 * so on a durable transport (Streams, in-memory) the transport stops reading and the backlog stays
 * safely in the stream. On Redis Pub/Sub there is no backpressure: waiting messages are held in
 * process memory, and a subscriber that cannot keep up is eventually cut off by Redis.
 */
export function createRateLimitMiddleware(options: RateLimitOptions): SubscriberMiddleware {
  if (!(options.maxEvents > 0) || !(options.windowMs > 0))
    throw new Error("maxEvents and windowMs must be positive");
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  // Start times of the most recent maxEvents admissions (granted or scheduled), per limiter key.
  const windows = new Map<string, number[]>();

  const admit = (key: string): number => {
    const starts = windows.get(key) ?? [];
    windows.set(key, starts);
    const current = now();
    const oldest =
      starts.length >= options.maxEvents ? starts[starts.length - options.maxEvents]! : undefined;
    const at = oldest === undefined ? current : Math.max(current, oldest + options.windowMs);
    starts.push(at);
    if (starts.length > options.maxEvents) starts.splice(0, starts.length - options.maxEvents);
    return at - current;
  };

  return async (ctx, next) => {
    const waitMs = admit(options.perEvent ? ctx.event : "*");
    if (waitMs > 0) {
      options.onLimit?.(ctx.event, waitMs);
      await sleep(waitMs);
    }
    await next();
  };
}
