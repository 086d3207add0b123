/**
 * The one behaviour suite every ServiceRegistry adapter passes. Time is driven by the suite: the
 * adapter gets a clock to stamp heartbeats with, and `wait` lets a real-TTL adapter (Redis) let real
 * time pass as well, while the memory adapter expires on the same fake clock.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { DiscoveryError } from "./errors.js";
import type { ServiceInstance, ServiceRegistry } from "./types.js";

export interface RegistryContractEnv {
  /** A fresh, empty registry whose clock is `now`. */
  create(now: () => number): Promise<ServiceRegistry>;
  /**
   * TTL used by the suite: anything for a fake clock; for a real one (Redis), long enough that a
   * loaded machine's late timers and round trips (hundreds of ms) fit in 0.45 of it.
   */
  ttlMs: number;
  /** Lets `ms` of real time pass (Redis), or nothing (memory). */
  wait(ms: number): Promise<void>;
}

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

export function instance(
  service: string,
  instanceId: string,
  extra: Partial<ServiceInstance> = {},
): ServiceInstance {
  return {
    service,
    instanceId,
    address: "127.0.0.1",
    port: 4000,
    version: "1.2.3",
    startedAt: new Date(T0).toISOString(),
    lastHeartbeat: new Date(T0).toISOString(),
    status: "healthy",
    consecutiveFailures: 0,
    ...extra,
  };
}

export function runServiceRegistryContract(name: string, env: () => RegistryContractEnv): void {
  describe(`ServiceRegistry contract: ${name}`, () => {
    let registry: ServiceRegistry;
    let clock: number;
    let ttl: number;
    const advance = async (ms: number) => {
      clock += ms;
      await env().wait(ms);
    };

    beforeEach(async () => {
      clock = T0;
      ttl = env().ttlMs;
      registry = await env().create(() => clock);
    });

    it("returns a registered instance with every field", async () => {
      const registered = instance("orders", "o-1", { port: 4100, metadata: { zone: "a" } });
      await registry.register(registered, ttl);
      expect(await registry.get("orders", "o-1")).toEqual(registered);
      expect(await registry.list("orders")).toEqual([registered]);
    });

    it("lists instances of one service or of all, and names the services", async () => {
      await registry.register(instance("payment", "p-1"), ttl);
      await registry.register(instance("orders", "o-2"), ttl);
      await registry.register(instance("orders", "o-1"), ttl);
      expect((await registry.list("orders")).map((i) => i.instanceId)).toEqual(["o-1", "o-2"]);
      expect((await registry.list()).map((i) => `${i.service}/${i.instanceId}`)).toEqual([
        "orders/o-1",
        "orders/o-2",
        "payment/p-1",
      ]);
      expect(await registry.services()).toEqual(["orders", "payment"]);
      expect(await registry.list("unknown")).toEqual([]);
    });

    it("replaces an entry registered twice instead of duplicating it", async () => {
      await registry.register(instance("orders", "o-1", { metadata: { zone: "a" } }), ttl);
      await registry.register(instance("orders", "o-1", { version: "2.0.0" }), ttl);
      expect(await registry.list("orders")).toEqual([instance("orders", "o-1", { version: "2.0.0" })]);
    });

    it("keeps an instance alive past its first TTL while heartbeats arrive", async () => {
      // Two waits of 0.55 TTL: the reads come 0.1 TTL past the first TTL, and a real clock (Redis)
      // may run each wait 0.45 TTL late before the key lapses (flake31 F2: with 0.5 then 0.7, 90 ms
      // of a 300 ms TTL, a loaded machine's late timer expired it).
      const step = Math.round(ttl * 0.55);
      await registry.register(instance("orders", "o-1"), ttl);
      await advance(step);
      expect(await registry.heartbeat("orders", "o-1", ttl)).toBe(true);
      await advance(step);
      const live = await registry.get("orders", "o-1");
      expect(live?.lastHeartbeat).toBe(new Date(T0 + step).toISOString());
      expect(await registry.list("orders")).toHaveLength(1);
    });

    it("forgets an instance whose heartbeats stop once its TTL has passed, with no checker running", async () => {
      await registry.register(instance("orders", "o-1"), ttl);
      await registry.register(instance("payment", "p-1"), ttl * 20);
      await advance(ttl + ttl / 3);
      expect(await registry.get("orders", "o-1")).toBeUndefined();
      expect(await registry.list("orders")).toEqual([]);
      expect((await registry.list()).map((i) => i.instanceId)).toEqual(["p-1"]);
      expect(await registry.services()).toEqual(["payment"]);
    });

    it("refuses heartbeats and health verdicts for an expired instance without resurrecting it", async () => {
      await registry.register(instance("orders", "o-1"), ttl);
      await advance(ttl + ttl / 3);
      expect(await registry.heartbeat("orders", "o-1", ttl)).toBe(false);
      expect(await registry.setHealth("orders", "o-1", "unhealthy", 2)).toBe(false);
      expect(await registry.get("orders", "o-1")).toBeUndefined();
      expect(await registry.deregister("orders", "o-1")).toBe(false);
    });

    it("lists an expired instance again once it re-registers", async () => {
      await registry.register(instance("orders", "o-1"), ttl);
      await advance(ttl + ttl / 3);
      await registry.register(instance("orders", "o-1"), ttl);
      expect((await registry.list("orders")).map((i) => i.instanceId)).toEqual(["o-1"]);
    });

    it("refuses a heartbeat for an instance never registered", async () => {
      expect(await registry.heartbeat("orders", "ghost", ttl)).toBe(false);
      expect(await registry.list()).toEqual([]);
    });

    it("deregisters an instance once, reporting whether it was there", async () => {
      await registry.register(instance("orders", "o-1"), ttl);
      expect(await registry.deregister("orders", "o-1")).toBe(true);
      expect(await registry.deregister("orders", "o-1")).toBe(false);
      expect(await registry.list("orders")).toEqual([]);
      expect(await registry.services()).toEqual([]);
    });

    it("records health verdicts without extending the TTL", async () => {
      await registry.register(instance("orders", "o-1"), ttl);
      expect(await registry.setHealth("orders", "o-1", "unhealthy", 2)).toBe(true);
      expect(await registry.get("orders", "o-1")).toMatchObject({
        status: "unhealthy",
        consecutiveFailures: 2,
      });
      await advance(ttl + ttl / 3);
      expect(await registry.get("orders", "o-1")).toBeUndefined();
    });

    it("hands out copies that do not change the registry when mutated", async () => {
      await registry.register(instance("orders", "o-1"), ttl);
      const [listed] = await registry.list("orders");
      if (listed) listed.status = "unhealthy";
      expect((await registry.get("orders", "o-1"))?.status).toBe("healthy");
    });

    it("rejects invalid instances and TTLs with typed errors", async () => {
      const badName = registry.register(instance("or:ders", "o-1"), ttl);
      await expect(badName).rejects.toMatchObject({ code: "INVALID_INSTANCE" });
      await expect(registry.register(instance("orders", "o-1", { port: 0 }), ttl)).rejects.toBeInstanceOf(
        DiscoveryError,
      );
      await expect(registry.register(instance("orders", "o-1"), 0)).rejects.toMatchObject({
        code: "INVALID_TTL",
      });
      expect(await registry.list()).toEqual([]);
    });
  });
}
