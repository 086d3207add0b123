import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { eventStreamKey, FIELD_BODY } from "../../lib/bus/transports/redis-stream-keys.js";
import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { reservationKey } from "./keys.js";
import { RedisInventoryStore } from "./redis-store.js";
import { runInventoryStoreContract } from "./store-contract.js";

/** The key's remaining lifetime is set and at most `max` ms: a mark that goes away on its own. */
async function expectExpiring(redis: Redis, key: string, max: number): Promise<void> {
  const ttl = await redis.pttl(key);
  expect(ttl, key).toBeGreaterThan(0);
  expect(ttl, key).toBeLessThanOrEqual(max);
}

describeWithRedis("RedisInventoryStore", (getRedis) => {
  it("keeps a reservation while it holds stock and lets it expire once settled or failed", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const store = new RedisInventoryStore({ redis, markerTtlMs: 60_000 });
    const none = () => [];
    await store.addProduct({ productId: "p-ttl", name: "ttl", price: 100, quantity: 5 }, none);
    await store.reserve("held", [{ productId: "p-ttl", quantity: 1 }], none);
    expect(await redis.pttl(reservationKey("held"))).toBe(-1);
    await store.commit("held", none);
    await expectExpiring(redis, reservationKey("held"), 60_000);
    await store.reserve("short", [{ productId: "p-ttl", quantity: 99 }], none);
    await expectExpiring(redis, reservationKey("short"), 60_000);
    await store.release("never-reserved", none);
    await expectExpiring(redis, reservationKey("never-reserved"), 60_000);
    await store.reserve("undone", [{ productId: "p-ttl", quantity: 1 }], none);
    await store.release("undone", none);
    await expectExpiring(redis, reservationKey("undone"), 60_000);
  });

  runInventoryStoreContract("redis", async () => {
    await getRedis().flush();
    const reader = getRedis().client();
    // Several connections, as several instances would have.
    const peers = Array.from({ length: 4 }, () => new RedisInventoryStore({ redis: getRedis().client() }));
    return {
      store: new RedisInventoryStore({ redis: getRedis().client() }),
      peers,
      emitted: async (topic) => {
        const entries = await reader.xrange(eventStreamKey("inventory", topic), "-", "+");
        return entries.map(([, fields]) => {
          const body = fields[fields.indexOf(FIELD_BODY) + 1] ?? "";
          return decodeEnvelope(body).payload;
        });
      },
    };
  });
});
