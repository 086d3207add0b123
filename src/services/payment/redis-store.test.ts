import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { attemptFailureKey, eventStreamKey, orderOutcomeKey } from "./keys.js";
import { mismatchOf } from "./reconciliation.js";
import { RedisPaymentStore } from "./redis-store.js";
import { runPaymentStoreContract } from "./store-contract.js";

/** The key's remaining lifetime is set and at most `max` ms: a mark that goes away on its own. */
async function expectExpiring(redis: Redis, key: string, max: number): Promise<void> {
  const ttl = await redis.pttl(key);
  expect(ttl, key).toBeGreaterThan(0);
  expect(ttl, key).toBeLessThanOrEqual(max);
}

describeWithRedis("RedisPaymentStore", (getRedis) => {
  it("lets an attempt marker expire after the marker lifetime", async () => {
    const redis = getRedis().client();
    const store = new RedisPaymentStore(redis, { markerTtlMs: 60_000 });
    expect(await store.reportAttemptFailure("order-ttl", 2, [])).toBe(true);
    expect(await store.reportAttemptFailure("order-ttl", 2, [])).toBe(false);
    await expectExpiring(redis, attemptFailureKey("order-ttl", 2), 60_000);
  });

  // newuser17 F1: the marker was set before the XADD; a failing XADD left it without its event and
  // the retry answered "reported before": the failure was never announced.
  it("a failed attempt whose event cannot be appended is not marked reported: the retry reports it once", async () => {
    const redis = getRedis().client();
    const store = new RedisPaymentStore(redis, { markerTtlMs: 60_000 });
    const stream = eventStreamKey("payment", "payment.failed");
    const message = { topic: "payment.failed", owner: "payment", id: "m-f1", body: "b-f1" };
    await redis.set(stream, "not a stream");
    try {
      await expect(store.reportAttemptFailure("order-f1", 1, [message])).rejects.toThrow(/WRONGTYPE/);
      expect(await redis.exists(attemptFailureKey("order-f1", 1))).toBe(0);
    } finally {
      await redis.del(stream);
    }
    expect(await store.reportAttemptFailure("order-f1", 1, [message])).toBe(true);
    expect(await store.reportAttemptFailure("order-f1", 1, [message])).toBe(false);
    expect(await redis.xlen(stream)).toBe(1);
    await redis.del(stream); // the contract below reads this stream
  });

  it("a compensation_failed order whose compensations settled late leaves the reconciliation (review F7)", async () => {
    const store = new RedisPaymentStore(getRedis().client());
    const row = async (orderId: string) => ({
      orderId,
      record: undefined,
      charge: undefined,
      refund: undefined,
      outcome: await store.outcome(orderId),
      failedAttempts: 0,
    });
    await store.recordOutcome("order-late", "failed");
    await store.recordOutcome("order-late", "compensation_failed");
    expect(mismatchOf(await row("order-late"))).toBe("order compensation_failed: needs an operator");
    await store.recordOutcome("order-late", "compensation_resolved");
    expect(mismatchOf(await row("order-late"))).toBeUndefined();
    // Reordered by the bus: the alert arriving after the resolution does not bring the order back.
    await store.recordOutcome("order-late", "compensation_failed");
    expect(await store.outcome("order-late")).toBe("compensation_resolved");
  });

  // break34 F2: the outcome expired with MARKER_TTL_MS (7 days) and the reconciliation lost the
  // only thing it judges an order's money by; it is now kept as long as the payment record.
  it("keeps an order's outcome as long as the payment records: no TTL, whatever the marker lifetime (break34 F2)", async () => {
    const redis = getRedis().client();
    const store = new RedisPaymentStore(redis, { markerTtlMs: 60_000 });
    await store.recordOutcome("order-kept", "failed");
    expect(await redis.pttl(orderOutcomeKey("order-kept"))).toBe(-1);
    await store.recordOutcome("order-kept", "compensation_failed");
    expect(await redis.pttl(orderOutcomeKey("order-kept"))).toBe(-1);
    expect(await store.outcome("order-kept")).toBe("compensation_failed");
  });

  runPaymentStoreContract("redis", async () => {
    const redis = getRedis().client();
    return {
      store: new RedisPaymentStore(redis),
      emitted: async (topic) => {
        const entries = await redis.xrange(eventStreamKey("payment", topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });
});
