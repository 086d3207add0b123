import { beforeEach, expect, it, vi } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { startServiceAgent } from "./agent.js";
import { instanceKey } from "./keys.js";
import { MemoryServiceRegistry } from "./memory-registry.js";
import { RedisServiceRegistry } from "./redis-registry.js";
import type { DiscoveryLogger } from "./types.js";

const identity = { service: "orders", instanceId: "o-1", address: "127.0.0.1", port: 4100, version: "1.0.0" };

function recorder() {
  const events: { event: string; payload: Record<string, unknown> }[] = [];
  const publish = async (event: string, payload: Record<string, unknown>) => {
    events.push({ event, payload });
  };
  const named = (event: string) => events.filter((e) => e.event === event).map((e) => e.payload);
  return { events, publish, named };
}

describeWithRedis("ServiceAgent", (getRedis) => {
  let registry: RedisServiceRegistry;
  beforeEach(async () => {
    await getRedis().flush();
    registry = new RedisServiceRegistry({ redis: getRedis().client() });
  });

  it("registers on start and announces service.registered", async () => {
    const { publish, named } = recorder();
    const now = () => Date.parse("2030-01-01T00:00:00.000Z");
    const agent = await startServiceAgent({ registry, instance: identity, publish, now });
    expect(await registry.get("orders", "o-1")).toMatchObject({
      ...identity,
      startedAt: "2030-01-01T00:00:00.000Z",
      status: "healthy",
      consecutiveFailures: 0,
    });
    expect(named("service.registered")).toEqual([{ ...identity, startedAt: "2030-01-01T00:00:00.000Z" }]);
    await agent.stop();
  });

  it("uses three heartbeat intervals as the default TTL", async () => {
    const agent = await startServiceAgent({ registry, instance: identity, heartbeatIntervalMs: 10_000 });
    const pttl = await getRedis().client().pttl(instanceKey("orders", "o-1"));
    expect(pttl).toBeGreaterThan(25_000);
    expect(pttl).toBeLessThanOrEqual(30_000);
    await agent.stop();
  });

  it("heartbeats on its interval, refreshing the TTL and announcing service.heartbeat", async () => {
    const { publish, named } = recorder();
    // 500 ms beats, a 1.5 s TTL: a 100 ms beat with a 300 ms TTL lapsed on a loaded CI machine (one
    // beat 200 ms late), and the agent, never stopped, then re-registered under the next test.
    const agent = await startServiceAgent({
      registry,
      instance: identity,
      heartbeatIntervalMs: 500,
      publish,
    });
    try {
      const registeredAt = performance.now();
      // Past the TTL since registration: the entry is only still there because heartbeats refreshed it.
      await waitFor(
        () => named("service.heartbeat").length >= 4 && performance.now() - registeredAt > 1_600,
        20_000,
        "four heartbeats, past the TTL",
      );
      expect(await registry.get("orders", "o-1")).toBeDefined();
      expect(named("service.heartbeat")[0]).toMatchObject({ service: "orders", instanceId: "o-1" });
    } finally {
      await agent.stop();
    }
  });

  it("registers again when its entry has gone, announcing service.registered again", async () => {
    const { publish, named } = recorder();
    const agent = await startServiceAgent({ registry, instance: identity, publish });
    await registry.deregister("orders", "o-1");
    await agent.beat();
    expect(await registry.get("orders", "o-1")).toMatchObject({ startedAt: agent.instance.startedAt });
    expect(named("service.registered")).toHaveLength(2);
    expect(named("service.heartbeat")).toHaveLength(0);
    await agent.stop();
  });

  it("registers again when its entry lost its registration fields (a partial AOF replay), and is listed again", async () => {
    const { publish, named } = recorder();
    const redis = getRedis().client();
    const agent = await startServiceAgent({ registry, instance: identity, publish });
    // newuser15 F1: after a restart only the health verdict's HSET was replayed, not the
    // registration's MULTI: a hash with status, failures and last heartbeat, nothing else, no TTL.
    const key = instanceKey("orders", "o-1");
    await redis.del(key);
    await redis.hset(key, {
      status: "healthy",
      consecutiveFailures: "0",
      lastHeartbeat: "2030-01-01T00:00:00.000Z",
    });
    expect(await registry.list("orders")).toEqual([]);
    await agent.beat();
    expect((await registry.list("orders")).map((i) => i.instanceId)).toEqual(["o-1"]);
    expect(named("service.registered")).toHaveLength(2);
    expect(await redis.pttl(key)).toBeGreaterThan(0);
    await agent.stop();
  });

  it("deregisters on stop and announces service.deregistered once, with reason shutdown", async () => {
    const { publish, named } = recorder();
    const agent = await startServiceAgent({ registry, instance: identity, heartbeatIntervalMs: 50, publish });
    await Promise.all([agent.stop(), agent.stop()]);
    expect(await registry.list("orders")).toEqual([]);
    expect(named("service.deregistered")).toEqual([
      { service: "orders", instanceId: "o-1", reason: "shutdown" },
    ]);
    await new Promise((r) => setTimeout(r, 150));
    expect(named("service.heartbeat")).toHaveLength(0);
    expect(await registry.list("orders")).toEqual([]);
  });
});

it("logs a failed heartbeat instead of throwing, and the next tick retries", async () => {
  const registry = new MemoryServiceRegistry();
  const failing = vi.spyOn(registry, "heartbeat").mockRejectedValueOnce(new Error("connection lost"));
  const logger: DiscoveryLogger = { info: vi.fn(), warn: vi.fn() };
  const { publish, named } = recorder();
  const agent = await startServiceAgent({ registry, instance: identity, logger, publish });
  await expect(agent.beat()).resolves.toBeUndefined();
  expect(logger.warn).toHaveBeenCalledWith(
    expect.objectContaining({ service: "orders" }),
    expect.any(String),
  );
  await agent.beat();
  expect(failing).toHaveBeenCalledTimes(2);
  expect(named("service.heartbeat")).toHaveLength(1);
  await agent.stop();
});

it("survives a publisher that fails", async () => {
  const registry = new MemoryServiceRegistry();
  const publish = vi.fn().mockRejectedValue(new Error("bus down"));
  const agent = await startServiceAgent({ registry, instance: identity, publish });
  await agent.beat();
  await agent.stop();
  expect(publish).toHaveBeenCalledTimes(3);
  expect(await registry.list()).toEqual([]);
});
