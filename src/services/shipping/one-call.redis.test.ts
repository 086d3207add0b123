/**
 * The Redis shipping store's one-call path: scheduling the delivery of a completed order is one
 * script call that reads the shipment itself (no read before the write), with the record and the
 * schedule the domain's `decideSchedule` and `scheduledRecord` give.
 */
import { Redis } from "ioredis";
import { expect, it, onTestFinished, vi } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import { provisionAclUsers } from "../../system/redis-acl.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { SimulatedCarrier } from "./carrier.js";
import { cancelledRecord, preparedRecord, scheduledRecord } from "./domain.js";
import { createShippingHandlers, type HandlerContext } from "./handlers.js";
import { RedisShippingStore } from "./redis-store.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const DELAY = 5_000;

describeWithRedis("RedisShippingStore one-call paths", (getRedis) => {
  const publisher = new Publisher({
    events: AllEvents,
    transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
    source: { service: "order", instance: "test" },
  });
  const prepared = (orderId: string) =>
    preparedRecord(
      { orderId, userId: "u-1", items: [{ productId: "p-1", quantity: 2 }] },
      { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000001", carrier: "SimShip" },
      `corr-${orderId}`,
      T0 - 1_000,
    );
  const completed = (orderId: string) => {
    const envelope = publisher.prepare("order.completed", {
      orderId,
      userId: "u-1",
      total: 100,
      currency: "USD",
      durationMs: 10,
    }).envelope;
    const ctx = { envelope, logger: { debug: () => {} } } as unknown as HandlerContext;
    return { payload: envelope.payload as typeof envelope.payload & { orderId: string }, ctx, envelope };
  };

  it("schedules a completed order's delivery in one Redis call, as the domain says, and only once", async () => {
    await getRedis().flush();
    // The service's own Redis user: a command its ACL lacks fails the script (NOPERM).
    const { username, password } = (await provisionAclUsers(getRedis().client())).get("shipping")!;
    const redis = new Redis(getRedis().url, { username, password, maxRetriesPerRequest: 0 });
    onTestFinished(() => redis.disconnect());
    const store = new RedisShippingStore(redis);
    const handlers = createShippingHandlers({
      store,
      carrier: new SimulatedCarrier(),
      now: () => T0,
      carrierTimeoutMs: 1_000,
      deliveryDelayMs: DELAY,
    });
    await store.commit(prepared("o-warm"), null, []);
    const warm = completed("o-warm");
    await handlers.orderCompleted(warm.payload, warm.ctx); // loads the script
    await store.commit(prepared("o-1"), null, []);
    const one = completed("o-1");
    const sent = vi.spyOn(redis, "sendCommand");
    try {
      await handlers.orderCompleted(one.payload, one.ctx);
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["evalsha"]);
    } finally {
      sent.mockRestore();
    }
    const expected = scheduledRecord(prepared("o-1"), T0, DELAY, one.envelope.traceparent);
    expect(await store.get("o-1")).toEqual(expected);
    expect(await getRedis().client().hget("{shipping}:shipment:o-1", "data")).toBe(JSON.stringify(expected));
    expect((await store.due(T0 + DELAY, 10)).sort()).toEqual(["o-1", "o-warm"]);

    // Already scheduled, or no longer prepared: nothing changes.
    await handlers.orderCompleted(completed("o-1").payload, completed("o-1").ctx);
    expect(await store.get("o-1")).toEqual(expected);
    await store.commit(prepared("o-2"), null, []);
    await store.commit(
      cancelledRecord(prepared("o-2"), "saga failed", "2030-01-01T00:00:00.000Z"),
      "prepared",
      [],
    );
    await handlers.orderCompleted(completed("o-2").payload, completed("o-2").ctx);
    await handlers.orderCompleted(completed("o-none").payload, completed("o-none").ctx);
    expect((await store.get("o-2"))?.status).toBe("cancelled");
    expect(await store.get("o-none")).toBeUndefined();
    expect((await store.due(T0 + DELAY, 10)).sort()).toEqual(["o-1", "o-warm"]);

    // A record it cannot splice (never written by the store) fails the call: retried, never guessed.
    await getRedis()
      .client()
      .hset("{shipping}:shipment:o-bad", "status", "prepared", "data", '{"orderId":"o-bad"}');
    await expect(store.scheduleDelivery("o-bad", T0, DELAY)).rejects.toThrow(/has no updatedAt/);
    expect((await store.due(T0 + DELAY, 10)).sort()).toEqual(["o-1", "o-warm"]);
  });
});
