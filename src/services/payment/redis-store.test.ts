import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { attemptFailureKey, eventStreamKey } from "./keys.js";
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
