/**
 * Review 2 of issue 10, finding 2, over real HTTP, a real Redis and the real inventory service: a
 * service's deliberate "busy, retry" answer (503 BUSY: the product's stock kept changing) is about
 * the request, not the instance. A burst of them opens no circuit breaker and marks no instance
 * unhealthy, so the next request is served at once.
 */
import { expect, it } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { startService } from "../lib/runtime/service-host.js";
import { createInventoryService } from "../services/inventory/service.js";
import { describeWithRedis } from "../test-support/redis.js";
import { createGateway } from "./gateway.js";

describeWithRedis("gateway and contention answers", (getRedis) => {
  it("passes a burst of 503 BUSY restocks on without opening a breaker; the next GET succeeds at once", async () => {
    await getRedis().flush();
    const platform = createRedisPlatform({ url: getRedis().url });
    const seed = [{ productId: "prod-hot", name: "Hot", price: 100, quantity: 10 }];
    // One decide-and-apply round per restock: concurrent restocks of one product conflict, as
    // they would after 25 rounds on a busier product.
    const inventory = await startService(createInventoryService({ seed, maxAttempts: 1 }), {
      events: AllEvents,
      platform,
      port: 0,
    });
    const opened: string[] = [];
    const gateway = await createGateway({
      platform,
      port: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      healthCheckIntervalMs: 0,
      // Low, so that counting the burst as failures would surely open it.
      breaker: { failureThreshold: 3 },
    });
    gateway.proxy.discovery.invalidate();
    const onChange = (change: { to: string; breaker: string }) => {
      if (change.to === "OPEN") opened.push(change.breaker);
    };
    try {
      const [instance] = await platform.registry.list("inventory");
      expect(instance).toBeDefined();
      const breaker = gateway.proxy.breakerFor(instance!);
      breaker.on("stateChange", onChange);
      const restock = () =>
        fetch(`${gateway.url}/inventory/prod-hot/restock`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ quantity: 1 }),
          signal: AbortSignal.timeout(30_000),
        });
      let busy = 0;
      for (let round = 0; round < 5 && busy < 10; round++) {
        const answers = await Promise.all(Array.from({ length: 30 }, restock));
        for (const res of answers) {
          const body = (await res.json()) as { error?: { code: string } };
          if (res.status === 200) continue;
          expect({ status: res.status, code: body.error?.code }).toEqual({ status: 503, code: "BUSY" });
          expect(res.headers.get("retry-after")).toBe("1");
          busy++;
        }
      }
      // The burst did contend (else this test proves nothing) ...
      expect(busy).toBeGreaterThanOrEqual(10);
      // ... yet no breaker opened and the instance is still routed to.
      expect(opened).toEqual([]);
      expect(breaker.state).toBe("CLOSED");
      const [after] = await platform.registry.list("inventory");
      expect(after?.status).not.toBe("unhealthy");
      const get = await fetch(`${gateway.url}/inventory/prod-hot`, { signal: AbortSignal.timeout(30_000) });
      expect(get.status).toBe(200);
    } finally {
      await gateway.stop();
      await inventory.stop();
      await platform.close();
    }
  }, 120_000);
});
