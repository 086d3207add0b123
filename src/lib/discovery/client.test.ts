import { beforeEach, describe, expect, it, vi } from "vitest";
import { DiscoveryClient } from "./client.js";
import { MemoryServiceRegistry } from "./memory-registry.js";
import { instance } from "./registry-contract.js";

describe("DiscoveryClient", () => {
  let clock: number;
  let registry: MemoryServiceRegistry;
  const now = () => clock;
  const TTL = 60_000;

  beforeEach(async () => {
    clock = 1_000_000;
    registry = new MemoryServiceRegistry({ now });
    for (const id of ["o-2", "o-1", "o-3"]) await registry.register(instance("orders", id), TTL);
  });

  const ids = (picked: ({ instanceId: string } | undefined)[]) => picked.map((p) => p?.instanceId);
  const pickN = async (client: DiscoveryClient, n: number) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await client.pick("orders"));
    return out;
  };

  it("picks healthy instances in turn", async () => {
    const client = new DiscoveryClient({ registry, monotonicNow: now });
    expect(ids(await pickN(client, 4))).toEqual(["o-1", "o-2", "o-3", "o-1"]);
  });

  it("skips instances marked unhealthy", async () => {
    await registry.setHealth("orders", "o-2", "unhealthy", 1);
    const client = new DiscoveryClient({ registry, monotonicNow: now });
    expect((await client.healthyInstances("orders")).map((i) => i.instanceId)).toEqual(["o-1", "o-3"]);
    expect(ids(await pickN(client, 3))).toEqual(["o-1", "o-3", "o-1"]);
  });

  it("lists every live instance, those marked unhealthy too, for a fallback; picks only healthy ones", async () => {
    await registry.setHealth("orders", "o-2", "unhealthy", 1);
    await registry.setHealth("orders", "o-3", "unhealthy", 1);
    const client = new DiscoveryClient({ registry, monotonicNow: now });
    expect((await client.liveInstances("orders")).map((i) => [i.instanceId, i.status])).toEqual([
      ["o-1", "healthy"],
      ["o-2", "unhealthy"],
      ["o-3", "unhealthy"],
    ]);
    expect((await client.healthyInstances("orders")).map((i) => i.instanceId)).toEqual(["o-1"]);
    expect(ids(await pickN(client, 2))).toEqual(["o-1", "o-1"]);
    await registry.setHealth("orders", "o-1", "unhealthy", 1);
    client.invalidate("orders");
    expect(await client.pick("orders")).toBeUndefined();
    expect(await client.liveInstances("orders")).toHaveLength(3);
  });

  it("skips instances whose breaker is open", async () => {
    const open = new Set(["o-1"]);
    const breakerFor = vi.fn((i: { instanceId: string }) => ({ canExecute: () => !open.has(i.instanceId) }));
    const client = new DiscoveryClient({ registry, monotonicNow: now, breakerFor });
    expect(ids(await pickN(client, 3))).toEqual(["o-2", "o-3", "o-2"]);
    open.delete("o-1");
    expect(ids(await pickN(client, 2))).toEqual(["o-3", "o-1"]);
  });

  it("returns undefined when every instance is unhealthy or open, or none is registered", async () => {
    await registry.setHealth("orders", "o-1", "unhealthy", 1);
    const client = new DiscoveryClient({
      registry,
      monotonicNow: now,
      breakerFor: () => ({ canExecute: () => false }),
    });
    expect(await client.pick("orders")).toBeUndefined();
    expect(await client.pick("payment")).toBeUndefined();
  });

  it("serves from its cache until the cache TTL passes or it is invalidated", async () => {
    const list = vi.spyOn(registry, "list");
    const client = new DiscoveryClient({ registry, monotonicNow: now, cacheTtlMs: 1_000 });
    await Promise.all([client.pick("orders"), client.pick("orders"), client.healthyInstances("orders")]);
    await registry.deregister("orders", "o-1");
    clock += 999;
    expect((await client.healthyInstances("orders")).map((i) => i.instanceId)).toContain("o-1");
    expect(list).toHaveBeenCalledTimes(1);
    clock += 1;
    expect((await client.healthyInstances("orders")).map((i) => i.instanceId)).toEqual(["o-2", "o-3"]);
    await registry.register(instance("orders", "o-1"), TTL);
    client.invalidate("orders");
    expect(await client.healthyInstances("orders")).toHaveLength(3);
    expect(list).toHaveBeenCalledTimes(3);
  });

  it("routes on the last known list when the registry fails, and says so when it has none", async () => {
    const client = new DiscoveryClient({ registry, monotonicNow: now, cacheTtlMs: 10 });
    await client.healthyInstances("orders");
    vi.spyOn(registry, "list").mockRejectedValue(new Error("connection lost"));
    clock += 100;
    expect(await client.healthyInstances("orders")).toHaveLength(3);
    await expect(client.pick("payment")).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      retryable: true,
    });
  });
  it("asks a failing registry once per cache time, answers the known list meanwhile, and only for staleIfErrorMs", async () => {
    const client = new DiscoveryClient({
      registry,
      monotonicNow: now,
      cacheTtlMs: 1_000,
      staleIfErrorMs: 5_000,
    });
    await client.healthyInstances("orders");
    const list = vi.spyOn(registry, "list").mockRejectedValue(new Error("connection lost"));
    clock += 1_000;
    expect(await client.healthyInstances("orders")).toHaveLength(3);
    expect(client.unverified("orders")).toBe(true);
    for (let i = 0; i < 5; i++) expect(await client.healthyInstances("orders")).toHaveLength(3);
    expect(list).toHaveBeenCalledTimes(1);
    clock += 1_000;
    // Expired again: answered at once from the known list, the registry asked in the background.
    expect(await client.healthyInstances("orders")).toHaveLength(3);
    expect(list).toHaveBeenCalledTimes(2);
    clock += 3_000; // 5 s since the last successful read
    await expect(client.healthyInstances("orders")).rejects.toMatchObject({ code: "REGISTRY_UNAVAILABLE" });
    list.mockRestore();
    clock += 1_000;
    expect(await client.healthyInstances("orders")).toHaveLength(3);
    expect(client.unverified("orders")).toBe(false);
  });
});
