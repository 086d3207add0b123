import { afterEach, describe, expect, it, vi } from "vitest";
import type { MessageContext } from "../context.js";
import { childTraceparent } from "../envelope.js";
import { MemoryIdempotencyStore } from "../idempotency/memory-store.js";
import { createDedupeWindowMiddleware, dedupeAgeMs } from "./dedupe-window.js";
import { createIdempotencyMiddleware } from "./idempotency.js";
import { createSubscriberLoggingMiddleware } from "./logging.js";
import { createRateLimitMiddleware } from "./rate-limit.js";
import { createSubscriberTimingMiddleware } from "./timing.js";
import { waitFor } from "../../../test-support/wait.js";

function context(id = "m-1", event = "item.added"): MessageContext {
  const envelope = {
    id,
    event,
    version: 1,
    occurredAt: new Date().toISOString(),
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
    ageMs: () => 0,
    deliveryCount: 1,
    replay: false,
    dedupedBy: "marks",
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
    const own = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn(), child: () => own };
    await createSubscriberLoggingMiddleware({ logger: own })(ctx, async () => {});
    expect(own.info).toHaveBeenCalledWith(
      expect.objectContaining({
        event: "item.added",
        messageId: "m-1",
        correlationId: "corr-1",
        traceparent: ctx.envelope.traceparent,
      }),
      "event handled",
    );
  });

  // The context's logger is bound to these three ids already (subscriber.ts): a line repeating
  // them printed each key twice (new-user finding; src/system/log-lines.test.ts reads real lines).
  it("does not repeat the ids the message context's logger is bound to", async () => {
    const ctx = context();
    await createSubscriberLoggingMiddleware()(ctx, async () => {});
    const [fields] = vi.mocked(ctx.logger.info).mock.calls[0] as [Record<string, unknown>, string];
    expect(fields).toMatchObject({ traceparent: ctx.envelope.traceparent, attempt: 1, from: "shop" });
    expect(Object.keys(fields)).not.toContain("event");
    expect(Object.keys(fields)).not.toContain("messageId");
    expect(Object.keys(fields)).not.toContain("correlationId");
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
const DAY = 86_400_000;
/**
 * A message whose entry was added at `at` (Redis time), delivered `deliveryCount` times, with an id
 * stamped `idAt` by its publisher's clock, read when Redis's clock says `now`.
 */
function aged(options: {
  at: number;
  now: number;
  idAt?: number;
  deliveryCount?: number;
  replay?: boolean;
  dedupedBy?: "marks" | "record";
  firstDeliveredAt?: number;
}): MessageContext {
  return {
    ...context(idAt(options.idAt ?? options.at)),
    enqueuedAt: options.at,
    firstDeliveredAt: options.firstDeliveredAt,
    ageMs: () => options.now - options.at,
    deliveryCount: options.deliveryCount ?? 1,
    replay: options.replay ?? false,
    dedupedBy: options.dedupedBy ?? "marks",
  };
}

describe("createDedupeWindowMiddleware", () => {
  afterEach(() => vi.useRealTimers());

  it("refuses a redelivery older than the window without running it, typed TOO_OLD_TO_DEDUPLICATE, with its age", async () => {
    const now = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY });
    let runs = 0;
    const redelivery = aged({ at: now - 8 * DAY, now, deliveryCount: 2 });
    await expect(middleware(redelivery, async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
      retryable: false,
      details: { ageMs: 8 * DAY },
    });
    await middleware(aged({ at: now - 6 * DAY, now, deliveryCount: 2 }), async () => void runs++);
    await middleware(aged({ at: now - 1_000, now, deliveryCount: 5 }), async () => void runs++);
    expect(runs).toBe(2);
  });

  it("runs a first delivery that waited unread inside the window: no earlier handling, its mark is written with its effect", async () => {
    const now = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 20_000 });
    let runs = 0;
    await middleware(aged({ at: now - 15_000, now }), async () => void runs++);
    expect(dedupeAgeMs(aged({ at: now - 15_000, now }))).toBeUndefined();
    expect(runs).toBe(1);
  });

  it("refuses a first delivery signed longer ago than the window minus the skew margin: a re-added copy of an old entry", async () => {
    const now = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY });
    let runs = 0;
    // A brand-new entry (added now) carrying a message its owner signed 8 days ago.
    const copy = aged({ at: now, now, idAt: now - 8 * DAY });
    await expect(middleware(copy, async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
      details: { ageMs: 8 * DAY },
    });
    // Inside the 1-minute skew margin of the window's end: refused too (a publisher clock ahead).
    const edge = aged({ at: now, now, idAt: now - 7 * DAY + 30_000 });
    await expect(middleware(edge, async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
    // Without a UUIDv7 id, the signed occurredAt dates it.
    const byTime = {
      ...aged({ at: now, now }),
      envelope: { ...context("m-1").envelope, occurredAt: new Date(now - 8 * DAY).toISOString() },
    };
    await expect(middleware(byTime, async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
    await middleware(aged({ at: now, now, idAt: now - 6 * DAY }), async () => void runs++);
    expect(runs).toBe(1);
  });

  it("dates a redelivery from its first delivery when known: a backlog first delivered late is retried, not refused", async () => {
    const now = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY });
    let runs = 0;
    // Added 6 days ago, unread until a minute ago; its first delivery failed, this is its retry.
    const retry = aged({ at: now - 6 * DAY, now, deliveryCount: 2, firstDeliveredAt: now - 60_000 });
    expect(dedupeAgeMs(retry)).toBe(60_000);
    await middleware(retry, async () => void runs++);
    expect(runs).toBe(1);
    // First delivered 8 days ago: its marks may be gone.
    const old = aged({ at: now - 10 * DAY, now, deliveryCount: 2, firstDeliveredAt: now - 8 * DAY });
    await expect(middleware(old, async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
    // Unknown (its first delivery ended silently): from the entry's time, refused when in doubt.
    await expect(
      middleware(aged({ at: now - 10 * DAY, now, deliveryCount: 2 }), async () => void runs++),
    ).rejects.toMatchObject({ code: "TOO_OLD_TO_DEDUPLICATE" });
    // A first delivery time before the entry (a skewed record) never makes it older than the entry.
    expect(dedupeAgeMs(aged({ at: now - DAY, now, deliveryCount: 2, firstDeliveredAt: now - 9 * DAY }))).toBe(
      DAY,
    );
    // A replay keeps its own rule (the original message's creation), whatever the replay entry says.
    const replay = aged({ at: now, now, idAt: now - 8 * DAY, replay: true, firstDeliveredAt: now });
    expect(dedupeAgeMs(replay)).toBe(8 * DAY);
    expect(runs).toBe(1);
  });

  it("dates a redelivery by its entry's time (Redis): a publisher a day behind sends fresh messages; one behind by more than the window is refused", async () => {
    const now = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY });
    let runs = 0;
    // Retried a second after it was added: its id says it was made a day ago.
    const retried = aged({ at: now - 1_000, now, idAt: now - DAY, deliveryCount: 2 });
    expect(dedupeAgeMs(retried)).toBe(1_000);
    await middleware(retried, async () => void runs++);
    expect(runs).toBe(1);
    // Signed time is all a copy cannot fake: 10 days behind reads as 10 days old (keep hosts on NTP).
    const skewed = aged({ at: now - 1_000, now, idAt: now - 10 * DAY, deliveryCount: 2 });
    await expect(middleware(skewed, async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
  });

  it("dates a replay (a new entry) by the earlier of its entry and its message id: the original message's creation", async () => {
    const now = Date.now();
    const replay = aged({ at: now, now, idAt: now - 8 * DAY, replay: true });
    expect(dedupeAgeMs(replay)).toBe(8 * DAY);
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY });
    await expect(middleware(replay, async () => {})).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
    // A publisher clock ahead never makes a replay younger than its replay entry.
    expect(dedupeAgeMs(aged({ at: now - DAY, now, idAt: now + DAY, replay: true }))).toBe(DAY);
  });

  it("runs a message of any age when every handler dedupes by its system of record", async () => {
    const now = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY });
    let runs = 0;
    const replay = aged({ at: now, now, idAt: now - 8 * DAY, replay: true, dedupedBy: "record" });
    await middleware(replay, async () => void runs++);
    expect(runs).toBe(1);
  });

  it("measures the age on the transport's clock (Redis TIME), not this host's clock", async () => {
    const redisNow = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY });
    // This host's clock runs 30 days ahead: the message is still 1 h old on the Redis clock.
    vi.useFakeTimers({ toFake: ["Date"], now: redisNow + 30 * DAY });
    let runs = 0;
    await middleware(
      aged({ at: redisNow - 3_600_000, now: redisNow, deliveryCount: 2 }),
      async () => void runs++,
    );
    expect(runs).toBe(1);
    // And 30 days behind: a 10-day-old redelivery is still refused.
    vi.setSystemTime(redisNow - 30 * DAY);
    await expect(
      middleware(aged({ at: redisNow - 10 * DAY, now: redisNow, deliveryCount: 2 }), async () => void runs++),
    ).rejects.toMatchObject({ code: "TOO_OLD_TO_DEDUPLICATE" });
    expect(runs).toBe(1);
  });
});

describe("createIdempotencyMiddleware", () => {
  it("with a store, refuses a message older than its marks live (its mark may be gone): TOO_OLD_TO_DEDUPLICATE", async () => {
    const now = Date.now();
    const store = new MemoryIdempotencyStore();
    const middleware = createIdempotencyMiddleware({ store, ttlMs: 60_000 });
    let runs = 0;
    const late = aged({ at: now - 61_000, now, deliveryCount: 2 });
    await expect(middleware(late, async () => void runs++)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
    await middleware(aged({ at: now - 1_000, now, deliveryCount: 2 }), async () => void runs++);
    // A first delivery that waited inside the marks' life is claimed and run like any other; one
    // signed before it (a re-added copy, or a backlog older than the marks) is refused.
    await middleware(aged({ at: now - 30_000, now }), async () => void runs++);
    await expect(middleware(aged({ at: now - 120_000, now }), async () => void runs++)).rejects.toMatchObject(
      {
        code: "TOO_OLD_TO_DEDUPLICATE",
      },
    );
    expect(runs).toBe(2);
  });

  it("with a store, keeps its claim while a handler outlives the lease: a duplicate meanwhile is in progress", async () => {
    // The store's clock moves only after a renewal landed, 100 ms at a time, past two 150 ms
    // leases in all: a loaded machine's late timers cannot lapse the lease (a real 400 ms wait could).
    let clock = 0;
    const store = new MemoryIdempotencyStore({ now: () => clock });
    let renewals = 0;
    const extend = store.extend.bind(store);
    store.extend = async (...args: Parameters<typeof store.extend>) => {
      const result = await extend(...args);
      renewals++;
      return result;
    };
    const middleware = createIdempotencyMiddleware({ store, leaseMs: 150 });
    let release: () => void = () => {};
    const running = middleware(
      context("m-slow"),
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    for (let step = 1; step <= 4; step++) {
      await waitFor(() => renewals >= step, 10_000, `renewal ${step}`);
      clock += 100;
    }
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

describe("a too-old refusal names the limit it applied (break-late F3)", () => {
  it("says the window less the clock-skew margin, not the whole window", async () => {
    const { TooOldToDeduplicateError } = await import("../errors.js");
    const { refuseIfTooOld } = await import("./dedupe-window.js");
    // A first delivery signed 19,010 ms ago, marks living 20,000 ms: refused by the rule itself,
    // which must name the limit it applied (the window less the skew margin, 18,000 ms).
    const signedAt = Date.parse("2030-01-01T00:00:00.000Z");
    const aged = {
      envelope: { id: "not-a-uuid-v7", occurredAt: new Date(signedAt).toISOString() },
      enqueuedAt: signedAt + 19_010,
      ageMs: () => 0,
      deliveryCount: 1,
      replay: false,
    } as unknown as Parameters<typeof refuseIfTooOld>[0];
    let refused: unknown;
    try {
      refuseIfTooOld(aged, 20_000);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(TooOldToDeduplicateError);
    expect((refused as Error).message).toContain(
      "past the 18000 ms allowed (its idempotency marks live 20000 ms",
    );
    expect(new TooOldToDeduplicateError(25_000, 20_000).message).toContain(
      "past the 20000 ms its idempotency",
    );
  });
});

describe("a publisher clock ahead by more than the skew margin (break-late F5)", () => {
  it("refuses its message (not retryable: dead-lettered) until its signed time is within the margin; an operator's retry then runs once, and a copy re-added after the marks expired does not run twice", async () => {
    const { CreatedInFutureError } = await import("../errors.js");
    const windowMs = 7 * DAY;
    const aheadMs = 10 * 60_000; // the publisher's clock, 10 minutes fast (margin: 1 minute)
    const ahead: number[] = [];
    const middleware = createDedupeWindowMiddleware({ windowMs });
    // The handler dedupes by its own mark, written with its effect and living the window.
    let runs = 0;
    let markExpiresAt = Number.NEGATIVE_INFINITY;
    const deliver = async (ctx: MessageContext, now: number) => {
      await middleware(ctx, async () => {
        if (now < markExpiresAt) return;
        runs++;
        markExpiresAt = now + windowMs;
      }).catch((error: unknown) => {
        if (error instanceof CreatedInFutureError) ahead.push(error.aheadMs);
        throw error;
      });
    };

    const t0 = Date.parse("2030-01-01T00:00:00.000Z");
    const signedAt = t0 + aheadMs;
    const refusal = deliver(aged({ at: t0, now: t0, idAt: signedAt }), t0);
    await expect(refusal).rejects.toBeInstanceOf(CreatedInFutureError);
    await expect(refusal).rejects.toMatchObject({ code: "CREATED_IN_FUTURE", retryable: false });
    // An operator's retry (a new entry) too early is refused again; once within the margin it runs.
    const early = signedAt - 60_000;
    await expect(deliver(aged({ at: early, now: early, idAt: signedAt }), early)).rejects.toMatchObject({
      code: "CREATED_IN_FUTURE",
    });
    const retryAt = early + 1;
    await deliver(aged({ at: retryAt, now: retryAt, idAt: signedAt }), retryAt);
    expect(runs).toBe(1);
    // A verbatim copy re-added (a new entry, a first delivery) just after the handler's mark expired.
    const copyAt = markExpiresAt + 1;
    await expect(deliver(aged({ at: copyAt, now: copyAt, idAt: signedAt }), copyAt)).rejects.toMatchObject({
      code: "TOO_OLD_TO_DEDUPLICATE",
    });
    expect(runs).toBe(1);
    expect(ahead).toEqual([aheadMs, 60_000]);
  });

  it("runs at once a message ahead by no more than the margin, and one whose handlers dedupe by record", async () => {
    const now = Date.now();
    const middleware = createDedupeWindowMiddleware({ windowMs: 7 * DAY });
    let runs = 0;
    await middleware(aged({ at: now, now, idAt: now + 59_000 }), async () => void runs++);
    await middleware(
      aged({ at: now, now, idAt: now + 3_600_000, dedupedBy: "record" }),
      async () => void runs++,
    );
    expect(runs).toBe(2);
  });
});
