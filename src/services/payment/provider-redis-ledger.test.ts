import type { Redis } from "ioredis";
import { expect, it, vi } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { providerCallsKey, providerEntryKey, providerIdKey, providerInFlightKey } from "./keys.js";
import { runProviderContract } from "./provider-contract.js";
import { RedisProviderLedger } from "./provider-redis-ledger.js";
import { SimulatedPaymentProvider } from "./provider.js";

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
    // The call counter (tok_flaky's first call fails) goes away on its own.
    const provider = new SimulatedPaymentProvider({ ledger });
    const flaky = { idempotencyKey: "order-ttl:2", amount: 100, currency: "USD", token: "tok_flaky" };
    await expect(provider.charge(flaky)).rejects.toMatchObject({ code: "processing_error" });
    await expectExpiring(redis, providerCallsKey("order-ttl:2"), 60_000);
  });

  it("charges a card whose processing takes no time (tok_ok) in one Redis call, a replay too", async () => {
    const redis = getRedis().client();
    const provider = new SimulatedPaymentProvider({ ledger: new RedisProviderLedger(redis) });
    const charge = (idempotencyKey: string) =>
      provider.charge({ idempotencyKey, amount: 100, currency: "USD", token: "tok_ok" });
    await charge("order-warm:1"); // loads the script (EVAL once)
    const sent = vi.spyOn(redis, "sendCommand");
    try {
      const first = await charge("order-one-call:1");
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["evalsha"]);
      sent.mockClear();
      expect(await charge("order-one-call:1")).toEqual({ ...first, replayed: true });
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["evalsha"]);
    } finally {
      sent.mockRestore();
    }
    expect(await redis.exists(providerInFlightKey("charge", "order-one-call:1"))).toBe(0);
  });

  it("counts the calls of a key only for a card whose failing depends on it (tok_flaky), not for one that cannot fail (tok_ok)", async () => {
    const redis = getRedis().client();
    const provider = new SimulatedPaymentProvider({ ledger: new RedisProviderLedger(redis) });
    const charge = (idempotencyKey: string, token: string) =>
      provider.charge({ idempotencyKey, amount: 100, currency: "USD", token });
    await charge("order-uncounted:1", "tok_ok");
    expect(await redis.exists(providerCallsKey("order-uncounted:1"))).toBe(0);
    await expect(charge("order-counted:1", "tok_flaky")).rejects.toThrow();
    expect(await redis.get(providerCallsKey("order-counted:1"))).toBe("1");
    await expect(charge("order-counted:1", "tok_flaky")).resolves.toMatchObject({ replayed: false });
  });

  it("processes a slow charge (tok_late_commit) without counting its call (only the instant path's tokens use the count)", async () => {
    const redis = getRedis().client();
    const ledger = new RedisProviderLedger(redis);
    const provider = new SimulatedPaymentProvider({ ledger, lateCommitMs: 0 });
    const charge = (idempotencyKey: string) =>
      provider.charge({ idempotencyKey, amount: 100, currency: "USD", token: "tok_late_commit" });
    await charge("order-slow-warm:1"); // loads the script (EVAL once)
    const sent = vi.spyOn(redis, "sendCommand");
    try {
      expect(await charge("order-slow:1")).toMatchObject({ replayed: false, amount: 100 });
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["get", "set", "get", "evalsha", "del"]);
    } finally {
      sent.mockRestore();
    }
    expect(await redis.exists(providerCallsKey("order-slow:1"))).toBe(0);
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
