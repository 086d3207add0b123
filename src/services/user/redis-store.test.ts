import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { userEventStreamKey, validationKey } from "./keys.js";
import { RedisUserStore } from "./redis-store.js";
import { runUserStoreContract } from "./store-contract.js";

/** The key's remaining lifetime is set and at most `max` ms: a mark that goes away on its own. */
async function expectExpiring(redis: Redis, key: string, max: number): Promise<void> {
  const ttl = await redis.pttl(key);
  expect(ttl, key).toBeGreaterThan(0);
  expect(ttl, key).toBeLessThanOrEqual(max);
}

describeWithRedis("RedisUserStore", (getRedis) => {
  it("lets an order's validation mark expire after the marker lifetime", async () => {
    const redis = getRedis().client();
    const store = new RedisUserStore(redis, { markerTtlMs: 60_000 });
    expect(await store.recordValidation("order-ttl", [])).toBe(true);
    expect(await store.recordValidation("order-ttl", [])).toBe(false);
    await expectExpiring(redis, validationKey("order-ttl"), 60_000);
  });

  runUserStoreContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      store: new RedisUserStore(redis),
      emitted: async (topic) => {
        const entries = await redis.xrange(userEventStreamKey(topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });
});
