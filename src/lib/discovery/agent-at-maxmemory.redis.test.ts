/**
 * break38 F1, over a real Redis at `maxmemory` with `noeviction`: Redis refuses every command that
 * may grow memory but keeps serving reads. The registry's liveness writes (heartbeat, registration,
 * health verdict) must not be refused with it, or every instance's entry expires after its TTL and
 * the gateway routes nothing: a write outage would become a total outage of reads.
 */
import type { Redis } from "ioredis";
import { afterEach, beforeEach, expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { startServiceAgent } from "./agent.js";
import { instanceKey } from "./keys.js";
import { RedisServiceRegistry } from "./redis-registry.js";

const identity = { service: "orders", instanceId: "o-1", address: "127.0.0.1", port: 4100, version: "1.0.0" };

/** Puts Redis at maxmemory (below what it uses, so no write that may grow memory runs). */
async function fillUp(redis: Redis): Promise<void> {
  const info = await redis.info("memory");
  const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
  await redis.config("SET", "maxmemory-policy", "noeviction");
  await redis.config("SET", "maxmemory", String(Math.floor(used / 2)));
  await expect(redis.set("ordinary-write", "x")).rejects.toThrow(/^OOM /);
}

describeWithRedis("registry liveness at Redis maxmemory (noeviction)", (getRedis) => {
  let admin: Redis;
  beforeEach(async () => {
    await getRedis().flush();
    admin = getRedis().client();
  });
  afterEach(async () => {
    await admin.config("SET", "maxmemory", "0");
  });

  it("keeps a registered instance's entry across more than its TTL while ordinary writes are refused", async () => {
    const registry = new RedisServiceRegistry({ redis: getRedis().client() });
    const ttlMs = 900;
    const agent = await startServiceAgent({ registry, instance: identity, heartbeatIntervalMs: 150, ttlMs });
    try {
      await fillUp(admin);
      const start = Date.now();
      // Three TTLs: without heartbeats the entry would have expired twice over.
      let lostAfterMs: number | undefined;
      await waitFor(
        async () => {
          if ((await registry.get("orders", "o-1")) === undefined) lostAfterMs = Date.now() - start;
          return lostAfterMs !== undefined || Date.now() - start > 3 * ttlMs;
        },
        30_000,
        "three TTLs or the entry gone",
        50,
      );
      expect(lostAfterMs).toBeUndefined();
      expect((await registry.list("orders")).map((i) => i.instanceId)).toEqual(["o-1"]);
      await expect(admin.set("ordinary-write", "x")).rejects.toThrow(/^OOM /);
    } finally {
      await admin.config("SET", "maxmemory", "0");
      await agent.stop();
    }
  }, 60_000);

  it("registers again at maxmemory when the entry was lost, and registers a new instance", async () => {
    const registry = new RedisServiceRegistry({ redis: getRedis().client() });
    const agent = await startServiceAgent({
      registry,
      instance: identity,
      heartbeatIntervalMs: 150,
      ttlMs: 900,
    });
    try {
      await fillUp(admin);
      await admin.del(instanceKey("orders", "o-1"));
      await waitFor(() => registry.get("orders", "o-1"), 30_000, "re-registration at maxmemory");
      // A process started while Redis is full (a restarted instance) registers too.
      const second = await startServiceAgent({
        registry,
        instance: { ...identity, instanceId: "o-2", port: 4101 },
        heartbeatIntervalMs: 150,
        ttlMs: 900,
      });
      try {
        expect((await registry.list("orders")).map((i) => i.instanceId)).toEqual(["o-1", "o-2"]);
        // A health verdict is a liveness write as well.
        expect(await registry.setHealth("orders", "o-2", "unhealthy", 3)).toBe(true);
        expect((await registry.get("orders", "o-2"))?.status).toBe("unhealthy");
      } finally {
        await second.stop();
      }
    } finally {
      await admin.config("SET", "maxmemory", "0");
      await agent.stop();
    }
  }, 60_000);
});
