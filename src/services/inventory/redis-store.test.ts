import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { eventStreamKey, FIELD_BODY } from "../../lib/bus/transports/redis-stream-keys.js";
import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { recordCommands } from "../../test-support/redis-monitor.js";
import { legacyProductIndexKey, productIndexKey, productKey, reservationKey } from "./keys.js";
import { RedisInventoryStore } from "./redis-store.js";
import { runInventoryStoreContract } from "./store-contract.js";
import { allProducts } from "./store.js";

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

describeWithRedis("RedisInventoryStore catalog pages", (getRedis) => {
  const PRODUCTS = 5_000;

  /** Writes `count` product hashes straight into Redis, with their ids in `indexKey` by `add`. */
  async function seed(redis: Redis, count: number, add: (ids: string[]) => Promise<unknown>) {
    for (let start = 0; start < count; start += 1_000) {
      const pipeline = redis.pipeline();
      const ids: string[] = [];
      for (let i = start; i < Math.min(count, start + 1_000); i++) {
        const id = `p-${String(i).padStart(6, "0")}`;
        ids.push(id);
        pipeline.hset(productKey(id), {
          id,
          name: id,
          price: 100,
          available: 1,
          reserved: 0,
          committed: 0,
          threshold: 0,
        });
      }
      await pipeline.exec();
      await add(ids);
    }
  }

  it("reads one page of a large catalog with O(limit) commands, never the whole index", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    await seed(redis, PRODUCTS, (ids) => redis.zadd(productIndexKey(), ...ids.flatMap((id) => [0, id])));
    const store = new RedisInventoryStore({ redis });
    await store.listProducts({ limit: 1 }); // the one-off legacy check, outside the recording
    const recorder = await recordCommands(redis);
    const page = await store.listProducts({ after: "p-002000", limit: 3 });
    const commands = await recorder.stop();
    expect(page.products.map((p) => p.productId)).toEqual(["p-002001", "p-002002", "p-002003"]);
    // The legacy-index move is one O(1) script call once the set is gone (EXISTS of a missing key).
    expect(commands.map((c) => c.name).sort()).toEqual([
      "evalsha",
      "exists",
      "hgetall",
      "hgetall",
      "hgetall",
      "zrangebylex",
    ]);
  });

  it("moves a catalog indexed by the earlier plain set into the sorted index on first listing", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    await seed(redis, 1_200, (ids) => redis.sadd(legacyProductIndexKey(), ...ids));
    const store = new RedisInventoryStore({ redis });
    const products = await allProducts(store);
    expect(products).toHaveLength(1_200);
    expect(products.at(-1)?.productId).toBe("p-001199");
    expect(await redis.exists(legacyProductIndexKey())).toBe(0);
    expect(await redis.zcard(productIndexKey())).toBe(1_200);
  });
});
