/**
 * clocksync9 at the level of its symptom on the bus: after a step of Redis's clock each process
 * follows it at its own next sync (every 10 s), so for a few seconds a consumer that followed it
 * first dead-lettered, as `CREATED_IN_FUTURE`, genuine messages of real orders dated by a publisher
 * that had not (a backward step), and a consumer behind the shared clock dead-lettered messages of
 * a publisher ahead of it (a forward step it had not followed yet). Before refusing, the consumer
 * now re-syncs its clock and allows a recent backward step's size.
 * Redis's clock cannot be stepped in a test: `redis.time` is a fake (as in clock-step.test.ts).
 */
import { describe, expect, it, vi } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { redisTimeClock, type SharedClock } from "../redis/clock.js";
import type { MessageContext } from "./context.js";
import type { Envelope } from "./envelope.js";
import { CreatedInFutureError } from "./errors.js";
import { createDedupeWindowMiddleware } from "./middleware/dedupe-window.js";
import { Publisher } from "./publisher.js";
import { TestEvents } from "./test-events.js";
import { MemoryTransport } from "./transports/memory.js";

const WEEK_MS = 7 * 86_400_000;

function world() {
  const state = { redisMs: 1_700_000_000_000, localMs: 0, timeCalls: 0 };
  const redis = {
    time: async () => {
      state.timeCalls += 1;
      return [Math.floor(state.redisMs / 1_000), (state.redisMs % 1_000) * 1_000];
    },
  };
  const clocks: SharedClock[] = [];
  return {
    state,
    elapse(ms: number) {
      state.redisMs += ms;
      state.localMs += ms;
    },
    /** A process's shared clock, synced only when the test says so (the 10 s period made deterministic). */
    async clock() {
      const clock = await redisTimeClock({ redis, local: () => state.localMs, syncIntervalMs: 3_600_000 });
      clocks.push(clock);
      return clock;
    },
    publisher(clock: SharedClock) {
      return new Publisher({
        events: TestEvents,
        transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
        source: { service: "shop", instance: "shop-1" },
        signer: null,
        clock: () => clock.now(),
      });
    },
    stop: () => clocks.forEach((clock) => clock.stop()),
  };
}

/** A first delivery of `envelope`, entered at `enqueuedAt` and aged on the consumer's clock. */
function delivery(envelope: Envelope, enqueuedAt: number, consumer: SharedClock): MessageContext {
  const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn(), child: () => logger };
  return {
    event: envelope.event,
    payload: envelope.payload,
    envelope,
    attempt: 1,
    enqueuedAt,
    ageMs: () => Math.max(0, consumer.now() - enqueuedAt),
    deliveryCount: 1,
    replay: false,
    dedupedBy: "marks",
    group: "g",
    logger,
    publish: vi.fn(),
    prepare: vi.fn(),
  };
}

/** What the consumer did with the delivery: ran its handler, or refused it (the code). */
async function consume(ctx: MessageContext, consumer: SharedClock, ahead: number[]): Promise<string> {
  const middleware = createDedupeWindowMiddleware({ windowMs: WEEK_MS, clock: consumer });
  let ran = false;
  try {
    await middleware(ctx, async () => void (ran = true));
  } catch (error) {
    if (!(error instanceof CreatedInFutureError)) return String(error);
    ahead.push(error.aheadMs);
    return error.code;
  }
  return ran ? "handled" : "skipped";
}

describe("a consumer about to refuse a delivery as created in the future, after a step of Redis's clock", () => {
  it("handles a message published by a process that has not synced since a 60 s backward step (the consumer has)", async () => {
    const w = world();
    try {
      const publisherClock = await w.clock();
      const consumerClock = await w.clock();
      const publisher = w.publisher(publisherClock);
      w.elapse(5_000);
      w.state.redisMs -= 60_000; // NTP steps the Redis host's clock back a minute
      await consumerClock.sync(); // the consumer's periodic sync comes first
      w.elapse(2_000);
      // The publisher has not synced yet: it dates the message on the old time, a minute ahead.
      const { envelope } = publisher.prepare("item.added", { sku: "a", quantity: 1 });
      // The stream entry is dated by Redis (its new time): a stream with no entry in the last minute.
      const ahead: number[] = [];
      expect(await consume(delivery(envelope, w.state.redisMs, consumerClock), consumerClock, ahead)).toBe(
        "handled",
      );
      expect(ahead).toEqual([]);

      // A message dated further ahead than the step explains is still refused.
      const forged = { ...envelope, id: "0", occurredAt: new Date(w.state.redisMs + 125_000).toISOString() };
      expect(await consume(delivery(forged, w.state.redisMs, consumerClock), consumerClock, ahead)).toBe(
        "CREATED_IN_FUTURE",
      );
      // And once the minute after the step is over, a date a minute ahead is no longer explained by it.
      w.elapse(60_000);
      const late = { ...envelope, id: "0", occurredAt: new Date(w.state.redisMs + 61_000).toISOString() };
      expect(await consume(delivery(late, w.state.redisMs, consumerClock), consumerClock, ahead)).toBe(
        "CREATED_IN_FUTURE",
      );
      expect(ahead).toEqual([125_000, 61_000]);
    } finally {
      w.stop();
    }
  });

  it("re-syncs a consumer that has not followed a 90 s forward step yet, and handles the message of a publisher that has", async () => {
    const w = world();
    try {
      const publisherClock = await w.clock();
      const consumerClock = await w.clock();
      const publisher = w.publisher(publisherClock);
      w.elapse(5_000);
      w.state.redisMs += 90_000; // Redis's clock steps forward
      await publisherClock.sync();
      const { envelope } = publisher.prepare("item.added", { sku: "a", quantity: 1 });
      const calls = w.state.timeCalls;
      // A transport whose entry time is the consumer's own clock (not Redis's): 90 s behind.
      const ahead: number[] = [];
      const ctx = delivery(envelope, consumerClock.now(), consumerClock);
      expect(await consume(ctx, consumerClock, ahead)).toBe("handled");
      expect(w.state.timeCalls).toBe(calls + 1); // one forced sync
      expect(consumerClock.now()).toBe(w.state.redisMs);
      expect(ahead).toEqual([]);
    } finally {
      w.stop();
    }
  });
});
