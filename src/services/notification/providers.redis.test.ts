/**
 * break34 F3: each notification instance had its own in-memory provider ledger, so a fact taken
 * over after an instance died between the send and its record was sent again by the next instance
 * (a provider that "never saw" the id). The simulated provider's ledger is now in Redis, shared.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { providerSentKey } from "./keys.js";
import { RedisSendLedger } from "./provider-redis-ledger.js";
import { request, runSimulatedProvidersContract } from "./providers-contract.js";
import { SimulatedProviders } from "./providers.js";

const TTL_MS = 60_000;

describeWithRedis("SimulatedProviders over a Redis ledger", (getRedis) => {
  runSimulatedProvidersContract("Redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return new RedisSendLedger(redis, TTL_MS);
  });

  it("sends a notification once across instances: another instance answers as the first did and sends nothing", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const first = new SimulatedProviders({ ledger: new RedisSendLedger(redis, TTL_MS), now: () => 5 });
    const second = new SimulatedProviders({ ledger: new RedisSendLedger(getRedis().client(), TTL_MS) });
    expect(await first.send(request())).toEqual({ status: "accepted" });
    expect(await second.send(request())).toEqual({ status: "accepted" });
    const bounce = request({ notificationId: "n2", to: "x@bounce.test" });
    expect(await first.send(bounce)).toMatchObject({ status: "rejected" });
    expect(await second.send({ ...bounce, to: "fixed@x.test" })).toMatchObject({ status: "rejected" });
    expect(first.sent().map((m) => m.notificationId)).toEqual(["n1"]);
    expect(second.sent()).toEqual([]);
  });

  it("lets two instances sending one id at once deliver it once", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const instances = Array.from(
      { length: 4 },
      () => new SimulatedProviders({ ledger: new RedisSendLedger(getRedis().client(), TTL_MS) }),
    );
    await Promise.all(instances.map((p) => p.send(request({ notificationId: "race" }))));
    expect(instances.flatMap((p) => p.sent())).toHaveLength(1);
  });

  it("keeps each answer for the ledger's TTL, with the time it was accepted", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    await new SimulatedProviders({ ledger: new RedisSendLedger(redis, TTL_MS), now: () => 42 }).send(
      request(),
    );
    expect(JSON.parse((await redis.get(providerSentKey("n1")))!)).toEqual({ status: "accepted", at: 42 });
    const ttl = await redis.pttl(providerSentKey("n1"));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL_MS);
  });
});
