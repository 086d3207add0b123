/**
 * Newuser13 F8 over real HTTP, a real Redis registry and the real inventory service: its one
 * instance, marked `unhealthy` in Redis (as a health check that timed out on a loaded host, or during
 * a freeze it has since come out of, leaves it), still serves through the gateway. It was 503
 * SERVICE_UNAVAILABLE "No healthy instance" until the next health check passed.
 */
import { expect, it } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { startService } from "../lib/runtime/service-host.js";
import { createInventoryService } from "../services/inventory/service.js";
import { describeWithRedis } from "../test-support/redis.js";
import { createGateway } from "./gateway.js";

describeWithRedis("gateway panic routing over Redis", (getRedis) => {
  it("answers GET 200 from the only inventory instance while the registry marks it unhealthy", async () => {
    await getRedis().flush();
    const platform = createRedisPlatform({ url: getRedis().url });
    const seed = [{ productId: "prod-panic", name: "Panic", price: 100, quantity: 10 }];
    const inventory = await startService(createInventoryService({ seed }), {
      events: AllEvents,
      platform,
      port: 0,
      logLevel: "silent",
    });
    // No health checker: the mark set here stays until the test ends.
    const gateway = await createGateway({
      platform,
      port: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      healthCheckIntervalMs: 0,
    });
    try {
      expect(await platform.registry.setHealth("inventory", inventory.instanceId, "unhealthy", 1)).toBe(true);
      gateway.proxy.discovery.invalidate();
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gateway.url}/inventory/prod-panic`, {
          signal: AbortSignal.timeout(30_000),
        });
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ productId: "prod-panic", available: 10 });
      }
      const [listed] = await platform.registry.list("inventory");
      expect(listed).toMatchObject({ instanceId: inventory.instanceId, status: "unhealthy" });
    } finally {
      await gateway.stop();
      await inventory.stop();
      await platform.close();
    }
  }, 120_000);
});
