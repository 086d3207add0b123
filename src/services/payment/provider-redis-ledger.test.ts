import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { providerCallsKey, providerEntryKey, providerIdKey } from "./keys.js";
import { runProviderContract } from "./provider-contract.js";
import { RedisProviderLedger } from "./provider-redis-ledger.js";

/** The key's remaining lifetime is set and at most `max` ms: a mark that goes away on its own. */
async function expectExpiring(redis: Redis, key: string, max: number): Promise<void> {
  const ttl = await redis.pttl(key);
  expect(ttl, key).toBeGreaterThan(0);
  expect(ttl, key).toBeLessThanOrEqual(max);
}

describeWithRedis("RedisProviderLedger", (getRedis) => {
  it("keeps a ledger entry and its id index for the entry lifetime only", async () => {
    const redis = getRedis().client();
    const ledger = new RedisProviderLedger(redis, { entryTtlMs: 60_000 });
    await ledger.putIfAbsent({
      kind: "charge",
      idempotencyKey: "order-ttl:1",
      id: "ch_ttl",
      status: "approved",
      amount: 100,
      currency: "USD",
      createdAt: new Date(0).toISOString(),
    });
    await expectExpiring(redis, providerEntryKey("charge", "order-ttl:1"), 60_000);
    await expectExpiring(redis, providerIdKey("ch_ttl"), 60_000);
    await ledger.countCall("order-ttl:1");
    await expectExpiring(redis, providerCallsKey("order-ttl:1"), 60_000);
  });

  runProviderContract("redis", () => new RedisProviderLedger(getRedis().client()));
});
