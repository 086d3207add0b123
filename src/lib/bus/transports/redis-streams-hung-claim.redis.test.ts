/**
 * A hung handler under the idempotency middleware (break20 F6): once its stream lease is given up
 * (maxLeaseMs) the entry is taken over, and the run must let its idempotency claim lapse, or the
 * new owner's delivery is deferred for ever. And a claim that never lapses ends in the DLQ after
 * `maxDeferrals`, not in endless deferrals.
 */
import { afterEach, expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { MemoryIdempotencyStore } from "../idempotency/memory-store.js";
import { createIdempotencyMiddleware } from "../middleware/idempotency.js";
import { Publisher } from "../publisher.js";
import { Subscriber, type SubscriberOptions } from "../subscriber.js";
import { TestEvents } from "../test-events.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { uniqueName } from "./transport-contract.js";

type Options = Partial<SubscriberOptions<typeof TestEvents, typeof TestEvents>>;

describeWithRedis("a hung handler holding an idempotency claim", (getRedis) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const start = async (
    group: string,
    consumer: string,
    store: MemoryIdempotencyStore,
    deadLetters: MemoryDeadLetterStore,
    handler: () => Promise<void>,
    options: Options = {},
  ) => {
    const transport = new RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters,
      claimIdleMs: 1_000,
      claimIntervalMs: 100,
      maxLeaseMs: 1_500,
      blockMs: 200,
    });
    const subscriber = new Subscriber({
      events: TestEvents,
      transport,
      group,
      consumer,
      inProgressDelayMs: 100,
      middleware: [createIdempotencyMiddleware({ store, leaseMs: 900, key: () => "the-message" })],
      ...options,
    }).on("item.added", handler);
    await subscriber.start();
    cleanups.push(async () => {
      // A hung handler never returns: a stop waits for it for ever (break20 F7), so do not wait.
      const stopped = subscriber.stop().then(() => transport.close());
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 500))]);
    });
    return transport;
  };

  it(
    "lets its claim lapse once its lease is given up: the taker runs the message",
    { timeout: 40_000 },
    async () => {
      const group = uniqueName("g");
      const store = new MemoryIdempotencyStore();
      const deadLetters = new MemoryDeadLetterStore();
      let hungStarted = false;
      const transport = await start(group, "hung", store, deadLetters, () => {
        hungStarted = true;
        return new Promise<void>(() => {}); // never settles
      });
      await new Publisher({ events: TestEvents, transport, source: { service: "t", instance: "t" } }).publish(
        "item.added",
        { sku: "a", quantity: 1 },
      );
      await waitFor(() => hungStarted, 10_000, "the hung run");
      let handled = 0;
      await start(group, "taker", store, deadLetters, async () => {
        handled++;
      });
      await waitFor(() => handled === 1, 20_000, "the taker to run the message");
    },
  );

  it("dead-letters a message whose claim never lapses after maxDeferrals", { timeout: 40_000 }, async () => {
    const group = uniqueName("g");
    const store = new MemoryIdempotencyStore();
    await store.claim("the-message", 600_000); // held elsewhere, for ever as far as the test goes
    const deadLetters = new MemoryDeadLetterStore();
    let handled = 0;
    const transport = await start(
      group,
      "c",
      store,
      deadLetters,
      async () => {
        handled++;
      },
      { maxDeferrals: 5 },
    );
    await new Publisher({ events: TestEvents, transport, source: { service: "t", instance: "t" } }).publish(
      "item.added",
      { sku: "b", quantity: 1 },
    );
    // A new group reads the stream from its start: the first test's message (same topic, same key)
    // may be parked here too, at about the same time: look for this one's.
    const ours = async () =>
      (await deadLetters.list({ group })).find(
        (r) => (JSON.parse(r.body) as { payload: { sku: string } }).payload.sku === "b",
      );
    const record = await waitFor(ours, 20_000, "the dead letter");
    expect(record.reason).toMatch(/^DEFERRED_TOO_OFTEN: in progress elsewhere through 5 deferrals/);
    expect(handled).toBe(0);
  });
});
