import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { providerCallsKey, providerEntryKey, providerIdKey, providerInFlightKey } from "./keys.js";
import { runProviderContract } from "./provider-contract.js";
import { RedisProviderLedger } from "./provider-redis-ledger.js";

/** The key's remaining lifetime is set and at most `max` ms: a mark that goes away on its own. */
async function expectExpiring(redis: Redis, key: string, max: number): Promise<void> {
  const ttl = await redis.pttl(key);
  expect(ttl, key).toBeGreaterThan(0);
  expect(ttl, key).toBeLessThanOrEqual(max);
}

describeWithRedis("RedisProviderLedger", (getRedis) => {
  it("keeps a ledger entry and its id index like the payment record (no expiry): a provider's dashboard never forgets money", async () => {
    const redis = getRedis().client();
    const ledger = new RedisProviderLedger(redis, { callCounterTtlMs: 60_000 });
    await ledger.putIfAbsent({
      kind: "charge",
      idempotencyKey: "order-ttl:1",
      id: "ch_ttl",
      status: "approved",
      amount: 100,
      currency: "USD",
      createdAt: new Date(0).toISOString(),
    });
    expect(await redis.pttl(providerEntryKey("charge", "order-ttl:1"))).toBe(-1);
    expect(await redis.pttl(providerIdKey("ch_ttl"))).toBe(-1);
    expect(await ledger.getById("ch_ttl")).toMatchObject({ amount: 100 });
    expect(await ledger.list("charge")).toEqual([expect.objectContaining({ id: "ch_ttl" })]);
    await ledger.countCall("order-ttl:1");
    await expectExpiring(redis, providerCallsKey("order-ttl:1"), 60_000);
  });

  it("marks a call in flight as a lease that expires if the provider dies mid-call", async () => {
    const redis = getRedis().client();
    const ledger = new RedisProviderLedger(redis);
    expect(await ledger.beginCall("charge", "order-lease:1", 60_000)).toBe(true);
    expect(await ledger.beginCall("charge", "order-lease:1", 60_000)).toBe(false);
    expect(await ledger.inFlight("charge", "order-lease:1")).toBe(true);
    await expectExpiring(redis, providerInFlightKey("charge", "order-lease:1"), 60_000);
    await ledger.endCall("charge", "order-lease:1");
    expect(await ledger.inFlight("charge", "order-lease:1")).toBe(false);
  });

  runProviderContract("redis", () => new RedisProviderLedger(getRedis().client()));
});
