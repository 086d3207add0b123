/**
 * break11 F1 at the level of its symptom on the bus: after Redis's clock stepped back a minute, a
 * running publisher kept dating its messages (UUIDv7 id, `occurredAt`) on its frozen shared clock,
 * a minute in the future of every consumer started after the step, which dead-lettered them as
 * `CREATED_IN_FUTURE`. Once the publisher's clock re-syncs, its messages are dated on Redis's new
 * time (the clock re-anchors, and the id generator follows it) and run.
 */
import { describe, expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { redisTimeClock } from "../redis/clock.js";
import { type AgedMessage, refuseIfTooOld, uuidV7Time } from "./middleware/dedupe-window.js";
import { Publisher } from "./publisher.js";
import { TestEvents } from "./test-events.js";
import { MemoryTransport } from "./transports/memory.js";

const WEEK_MS = 7 * 86_400_000;

describe("messages published across a backward step of Redis's clock", () => {
  it("are dated on Redis's new time after the publisher's next sync, and a consumer started after the step runs them", async () => {
    let redisMs = 1_700_000_000_000;
    let localMs = 0;
    const redis = {
      time: async () => [Math.floor(redisMs / 1_000), (redisMs % 1_000) * 1_000],
    };
    const clockOf = () => redisTimeClock({ redis, local: () => localMs, syncIntervalMs: 3_600_000 });
    const publisherClock = await clockOf();
    const publisher = new Publisher({
      events: TestEvents,
      transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
      source: { service: "shop", instance: "shop-1" },
      signer: null,
      clock: () => publisherClock.now(),
    });
    // The publisher has been sending: its id generator has seen the old, higher times.
    publisher.prepare("item.added", { sku: "a", quantity: 1 });
    redisMs += 5_000;
    localMs += 5_000;
    publisher.prepare("item.added", { sku: "a", quantity: 1 });

    redisMs -= 60_000; // NTP steps the Redis host's clock back a minute
    const consumerClock = await clockOf(); // a consumer started after the step
    await publisherClock.sync(); // the publisher's next periodic sync

    const { envelope } = publisher.prepare("item.added", { sku: "a", quantity: 2 });
    expect(uuidV7Time(envelope.id)).toBe(redisMs);
    expect(Date.parse(envelope.occurredAt)).toBe(redisMs);
    // The consumer dates the delivery on its own shared clock (entry time: Redis's, now).
    const ctx: AgedMessage = {
      envelope,
      enqueuedAt: consumerClock.now(),
      ageMs: () => 0,
      deliveryCount: 1,
      replay: false,
      dedupedBy: "marks",
      firstDeliveredAt: undefined,
    };
    expect(() => refuseIfTooOld(ctx, WEEK_MS)).not.toThrow();
    publisherClock.stop();
    consumerClock.stop();
  });
});
