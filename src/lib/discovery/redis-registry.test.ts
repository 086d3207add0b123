import { beforeEach, expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { instanceKey, serviceIndexKey, servicesKey } from "./keys.js";
import { RedisServiceRegistry } from "./redis-registry.js";
import { REGISTERED_FIELDS } from "./scripts.js";
import { instance, runServiceRegistryContract } from "./registry-contract.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describeWithRedis("RedisServiceRegistry", (getRedis) => {
  beforeEach(async () => {
    await getRedis().flush();
  });

  runServiceRegistryContract("redis", () => ({
    create: async (now) => new RedisServiceRegistry({ redis: getRedis().client(), now }),
    // Real time: 1.5 s leaves 675 ms of slack to the keep-alive test (300 ms left 90: flake31 F2).
    ttlMs: 1_500,
    wait: sleep,
  }));

  it("keeps the TTL in Redis itself", async () => {
    const registry = new RedisServiceRegistry({ redis: getRedis().client() });
    await registry.register(instance("orders", "o-1"), 5_000);
    const pttl = await getRedis().client().pttl(instanceKey("orders", "o-1"));
    expect(pttl).toBeGreaterThan(4_000);
    expect(pttl).toBeLessThanOrEqual(5_000);
  });

  it("expires on Redis's clock whatever the registering machine's clock says", async () => {
    const hourBehind = () => Date.now() - 3_600_000;
    const skewed = new RedisServiceRegistry({ redis: getRedis().client(), now: hourBehind });
    const observer = new RedisServiceRegistry({ redis: getRedis().client() });
    // 1 s: the list right after the register must find it even on a loaded machine.
    await skewed.register(instance("orders", "o-1"), 1_000);
    expect(await observer.list("orders")).toHaveLength(1);
    await sleep(1_200);
    expect(await observer.list("orders")).toEqual([]);
  });

  it("prunes index entries whose instance key has gone", async () => {
    const redis = getRedis().client();
    const registry = new RedisServiceRegistry({ redis });
    await registry.register(instance("orders", "o-1"), 60_000);
    await registry.register(instance("orders", "o-2"), 60_000);
    await redis.del(instanceKey("orders", "o-1"));
    expect((await registry.list("orders")).map((i) => i.instanceId)).toEqual(["o-2"]);
    expect(await redis.smembers(serviceIndexKey("orders"))).toEqual(["o-2"]);
    await redis.del(instanceKey("orders", "o-2"));
    expect(await registry.services()).toEqual([]);
    expect(await redis.exists(serviceIndexKey("orders"), servicesKey())).toBe(0);
  });

  it("lists an instance missing from the index again after its next heartbeat", async () => {
    const redis = getRedis().client();
    const registry = new RedisServiceRegistry({ redis });
    await registry.register(instance("orders", "o-1"), 60_000);
    await redis.del(serviceIndexKey("orders"), servicesKey());
    expect(await registry.list("orders")).toEqual([]);
    expect(await registry.heartbeat("orders", "o-1", 60_000)).toBe(true);
    expect((await registry.list()).map((i) => i.instanceId)).toEqual(["o-1"]);
  });

  it("refuses to refresh an entry missing a registration field, and removes it", async () => {
    const redis = getRedis().client();
    const registry = new RedisServiceRegistry({ redis });
    const key = instanceKey("orders", "o-1");
    for (const missing of REGISTERED_FIELDS) {
      await registry.register(instance("orders", "o-1"), 60_000);
      await redis.hdel(key, missing);
      expect(await registry.heartbeat("orders", "o-1", 60_000), missing).toBe(false);
      expect(await redis.exists(key), missing).toBe(0);
    }
    // A complete entry is still refreshed.
    await registry.register(instance("orders", "o-1"), 60_000);
    expect(await registry.heartbeat("orders", "o-1", 60_000)).toBe(true);
  });

  it("reloads its scripts after Redis forgets them", async () => {
    const redis = getRedis().client();
    const registry = new RedisServiceRegistry({ redis });
    await registry.register(instance("orders", "o-1"), 60_000);
    expect(await registry.heartbeat("orders", "o-1", 60_000)).toBe(true);
    await redis.script("FLUSH");
    expect(await registry.heartbeat("orders", "o-1", 60_000)).toBe(true);
  });
});
