import { afterEach, describe, expect, it, vi } from "vitest";
import type { MessageContext } from "../context.js";
import { childTraceparent } from "../envelope.js";
import { MemoryIdempotencyStore } from "../idempotency/memory-store.js";
import { createDedupeWindowMiddleware, messageOrigin } from "./dedupe-window.js";
import { createIdempotencyMiddleware } from "./idempotency.js";
import { createSubscriberLoggingMiddleware } from "./logging.js";
import { createRateLimitMiddleware } from "./rate-limit.js";
import { createSubscriberTimingMiddleware } from "./timing.js";

function context(id = "m-1", event = "item.added"): MessageContext {
  const envelope = {
    id,
    event,
    version: 1,
    occurredAt: new Date(0).toISOString(),
    source: { service: "shop", instance: "shop-1" },
    correlationId: "corr-1",
    traceparent: childTraceparent(),
    attributes: {},
    payload: {},
  };
  const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn(), child: () => logger };
  return {
    event,
    payload: {},
    envelope,
    attempt: 1,
    enqueuedAt: Date.now(),
    group: "g",
    logger,
    publish: vi.fn(),
    prepare: vi.fn(),
  };
}

describe("createRateLimitMiddleware", () => {
  it("lets maxEvents through per window and delays, never drops, the rest", async () => {
    let clock = 0;
    const waits: number[] = [];
    const limited: string[] = [];
    const limiter = createRateLimitMiddleware({
      maxEvents: 2,
      windowMs: 1_000,
      now: () => clock,
      sleep: async (ms) => void waits.push(ms),
      onLimit: (event) => void limited.push(event),
    });
    let handled = 0;
    for (let i = 0; i < 5; i++) await limiter(context(`m${i}`), async () => void handled++);
    expect(handled).toBe(5);
    expect(waits).toEqual([1_000, 1_000, 2_000]);
    expect(limited).toHaveLength(3);
    clock = 10_000;
    waits.length = 0;
    await limiter(context(), async () => {});
    expect(waits).toEqual([]);
  });

  it("has a read side: grants maxEvents reads per window, and what it read runs without waiting", async () => {
    let clock = 0;
    const waits: number[] = [];
    const limiter = createRateLimitMiddleware({
      maxEvents: 3,
      windowMs: 1_000,
      now: () => clock,
      sleep: async (ms) => void waits.push(ms),
    });
    const throttle = limiter.readThrottle!;
    expect(throttle.tryTake(5)).toBe(3);
    throttle.giveBack(1); // the read found only two entries
    expect(throttle.tryTake(5)).toBe(1);
    expect(throttle.tryTake(5)).toBe(0);
    expect(throttle.waitMs()).toBe(1_000);
    for (let i = 0; i < 3; i++) await limiter(context(`r${i}`), async () => {});
    expect(waits).toEqual([]);
    clock = 1_001;
    expect(throttle.tryTake(5)).toBe(3);
  });

  it("limits each event name separately when perEvent is set", async () => {
    const waits: number[] = [];
    const limiter = createRateLimitMiddleware({
      maxEvents: 1,
      windowMs: 100,
      perEvent: true,
      now: () => 0,
      sleep: async (ms) => void waits.push(ms),
    });
    await limiter(context("a", "x.one"), async () => {});
    await limiter(context("b", "x.two"), async () => {});
    await limiter(context("c", "x.one"), async () => {});
    expect(waits).toEqual([100]);
  });
});

describe("createSubscriberTimingMiddleware", () => {
  it("reports the duration of the rest of the chain, on success and on failure", async () => {
    let clock = 0;
    const timings: [string, number, string][] = [];
    const timing = createSubscriberTimingMiddleware(
      (e, ms, outcome) => void timings.push([e, ms, outcome]),
      () => clock,
    );
    await timing(context(), async () => {
      clock += 12;
    });
    await expect(
      timing(context(), async () => {
        clock += 5;
        throw new Error("x");
      }),
    ).rejects.toThrow("x");
    expect(timings).toEqual([
      ["item.added", 12, "success"],
      ["item.added", 5, "failure"],
    ]);
  });
});

describe("createSubscriberLoggingMiddleware", () => {
  it("logs the outcome with the message, correlation and trace ids", async () => {
    const ctx = context();
    await createSubscriberLoggingMiddleware()(ctx, async () => {});
    expect(ctx.logger.info).toHaveBeenCalledWith(
      expect.objectContaining({
        messageId: "m-1",
        correlationId: "corr-1",
        traceparent: ctx.envelope.traceparent,
      }),
      "event handled",
    );
    await expect(
      createSubscriberLoggingMiddleware()(ctx, async () => {
        throw new Error("nope");
      }),
    ).rejects.toThrow("nope");
    expect(ctx.logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: expect.objectContaining({ message: "nope" }) }),
      "event handler failed",
    );
  });
});

/** A UUIDv7 message id made at `ms`. */
const idAt = (ms: number) => {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7abc-8000-000000000001`;
};
/** A message first queued at `at` (its entry's time and its id's time). */
const queuedAt = (at: number): MessageContext => ({ ...context(idAt(at)), enqueuedAt: at });

describe("createDedupeWindowMiddleware", () => {
  afterEach(() => vi.useRealTimers());
  const DAY = 86_400_000;

  it("refuses a message older than the window without running it, typed TOO_OLD_TO_DEDUPLICATE, and counts it", async () => {
    const redisNow = Date.now();
    const refused: number[] = [];
    const middleware = createDedupeWindowMiddleware({
      windowMs: 7 * DAY,
      clock: () => redisNow,
      onTooOld: (_ctx, ageMs) => void refused.push(ageMs),
    });
    let runs = 0;
    await expect(middleware(queuedAt(redisNow - 8 * DAY), async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
      retryable: false,
    });
    await middleware(queuedAt(redisNow - 6 * DAY), async () => void runs++);
    await middleware(queuedAt(redisNow - 1_000), async () => void runs++);
    expect(runs).toBe(2);
    expect(refused).toEqual([8 * DAY]);
  });

  it("dates a replay (a new entry) by its message id: the original message's creation", async () => {
    const now = Date.now();
    const replay = { ...context(idAt(now - 8 * DAY)), enqueuedAt: now };
    expect(messageOrigin(replay)).toBe(now - 8 * DAY);
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY, clock: () => now });
    await expect(middleware(replay, async () => {})).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
  });

  it("measures the age on the reference clock (Redis TIME), not this host's clock", async () => {
    const redisNow = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY, clock: () => redisNow });
    // This host's clock runs 30 days ahead: the message is still 1 h old on the Redis clock.
    vi.useFakeTimers({ toFake: ["Date"], now: redisNow + 30 * DAY });
    let runs = 0;
    await middleware(queuedAt(redisNow - 3_600_000), async () => void runs++);
    expect(runs).toBe(1);
    // And 30 days behind: a 10-day-old message is still refused.
    vi.setSystemTime(redisNow - 30 * DAY);
    await expect(middleware(queuedAt(redisNow - 10 * DAY), async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
    expect(runs).toBe(1);
  });
});

describe("createIdempotencyMiddleware", () => {
  it("with a store, refuses a message older than its marks live (its mark may be gone): TOO_OLD_TO_DEDUPLICATE", async () => {
    const now = Date.now();
    const store = new MemoryIdempotencyStore();
    const middleware = createIdempotencyMiddleware({ store, ttlMs: 60_000, clock: () => now });
    let runs = 0;
    await expect(middleware(queuedAt(now - 61_000), async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
    await middleware(queuedAt(now - 1_000), async () => void runs++);
    expect(runs).toBe(1);
  });

  it("with a store, keeps its claim while a handler outlives the lease: a duplicate meanwhile is in progress", async () => {
    const store = new MemoryIdempotencyStore();
    const middleware = createIdempotencyMiddleware({ store, leaseMs: 150 });
    let release: () => void = () => {};
    const running = middleware(
      context("m-slow"),
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    await new Promise((r) => setTimeout(r, 400)); // more than two leases
    await expect(middleware(context("m-slow"), async () => {})).rejects.toMatchObject({
      code: "MESSAGE_IN_PROGRESS",
    });
    release();
    await running;
    let duplicateRan = false;
    await middleware(context("m-slow"), async () => void (duplicateRan = true));
    expect(duplicateRan).toBe(false);
  });

  it("with the spec's callbacks, skips messages already marked and marks after success only", async () => {
    const processed = new Set<string>();
    const middleware = createIdempotencyMiddleware({
      hasProcessed: async (id) => processed.has(id),
      markProcessed: async (id) => void processed.add(id),
    });
    let runs = 0;
    await expect(
      middleware(context("m-9"), async () => {
        throw new Error("fail");
      }),
    ).rejects.toThrow();
    expect(processed.size).toBe(0);
    await middleware(context("m-9"), async () => void runs++);
    await middleware(context("m-9"), async () => void runs++);
    expect(runs).toBe(1);
    expect([...processed]).toEqual(["g:m-9"]);
  });

  it("with a store, a failed handler releases its claim so the retry runs", async () => {
    const middleware = createIdempotencyMiddleware({ store: new MemoryIdempotencyStore() });
    let runs = 0;
    await expect(middleware(context(), async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    await middleware(context(), async () => void runs++);
    await middleware(context(), async () => void runs++);
    expect(runs).toBe(1);
  });

  it("with a store, a duplicate arriving while the first runs is told to retry later", async () => {
    const middleware = createIdempotencyMiddleware({ store: new MemoryIdempotencyStore() });
    let release: () => void = () => {};
    const first = middleware(context(), () => new Promise<void>((r) => (release = r)));
    await expect(middleware(context(), async () => {})).rejects.toMatchObject({
      code: "MESSAGE_IN_PROGRESS",
      retryable: true,
    });
    release();
    await first;
  });
});
