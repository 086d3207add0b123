import type { SubscriberMiddleware } from "../subscriber.js";
import type { ReadThrottle } from "../transport.js";
import { monotonicNow } from "../../resilience/monotonic.js";

export interface RateLimitOptions {
  /** Events let through per window. */
  maxEvents: number;
  windowMs: number;
  /** Called each time a message has to wait for the window. */
  onLimit?: (eventName: string, waitMs: number) => void;
  /** Limit per event name instead of for all events together (default false). */
  perEvent?: boolean;
  /** Ms on a monotonic source (default `monotonicNow`): windows are local durations, which a
   * step of the host's wall clock must not stretch or shrink (break22). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** A middleware that can also slow the reading of the subscription it runs in. */
export type ThrottlingMiddleware = SubscriberMiddleware & { readonly readThrottle?: ReadThrottle };

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sliding-window limit of `maxEvents` per `windowMs`. Over the limit a message is *delayed*, never
 * dropped. Backpressure means reading less: the limiter has a read side (`readThrottle`) that the
 * Subscriber hands to a transport that supports it (Streams, in-memory), so new messages are only
 * read when the window has room and the backlog stays in the queue, not pending in a handler where
 * it would look idle. A message read that way was admitted when it was read and runs at once.
 * Messages that arrive another way (retries, takeovers, replays), and every message with
 * `perEvent` (the event is not known before reading), wait inside the middleware for the window,
 * holding a concurrency slot while their lease is renewed. On Redis Pub/Sub there is no
 * backpressure: waiting messages are held in process memory.
 */
export function createRateLimitMiddleware(options: RateLimitOptions): ThrottlingMiddleware {
  if (!(options.maxEvents > 0) || !(options.windowMs > 0))
    throw new Error("maxEvents and windowMs must be positive");
  const now = options.now ?? monotonicNow;
  const sleep = options.sleep ?? defaultSleep;
  // Start times of the most recent maxEvents admissions (granted or scheduled), per limiter key.
  const windows = new Map<string, number[]>();
  // Admissions granted to reads and not yet used by a message (the "*" key only).
  let reserved = 0;

  const starts = (key: string): number[] => {
    let list = windows.get(key);
    if (!list) {
      list = [];
      windows.set(key, list);
    }
    return list;
  };

  const admit = (key: string): number => {
    const list = starts(key);
    const current = now();
    const oldest = list.length >= options.maxEvents ? list[list.length - options.maxEvents]! : undefined;
    const at = oldest === undefined ? current : Math.max(current, oldest + options.windowMs);
    list.push(at);
    if (list.length > options.maxEvents) list.splice(0, list.length - options.maxEvents);
    return at - current;
  };

  /** Admissions possible right now in the shared window. */
  const room = (): number => {
    const current = now();
    const list = starts("*");
    const inWindow = list.filter((at) => at > current - options.windowMs).length;
    return Math.max(0, options.maxEvents - inWindow);
  };

  const readThrottle: ReadThrottle = {
    tryTake(max) {
      const granted = Math.min(max, room());
      const list = starts("*");
      for (let i = 0; i < granted; i++) list.push(now());
      if (list.length > options.maxEvents) list.splice(0, list.length - options.maxEvents);
      reserved += granted;
      return granted;
    },
    giveBack(count) {
      const back = Math.min(count, reserved);
      reserved -= back;
      starts("*").splice(-back, back);
    },
    waitMs() {
      if (room() > 0) return 0;
      const list = starts("*");
      const oldest = list[list.length - options.maxEvents] ?? now();
      return Math.max(1, oldest + options.windowMs - now());
    },
  };

  const middleware: SubscriberMiddleware = async (ctx, next) => {
    if (!options.perEvent && reserved > 0) {
      reserved--; // admitted when it was read
      return next();
    }
    const waitMs = admit(options.perEvent ? ctx.event : "*");
    if (waitMs > 0) {
      options.onLimit?.(ctx.event, waitMs);
      await sleep(waitMs);
    }
    await next();
  };
  return options.perEvent ? middleware : Object.assign(middleware, { readThrottle });
}
