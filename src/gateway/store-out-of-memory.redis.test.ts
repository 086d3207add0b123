/**
 * break38 F2, over real HTTP, a real Redis at `maxmemory` (noeviction) and the real inventory
 * service: Redis refusing a write for memory ("OOM command not allowed ...") is a condition of the
 * shared store, not of the instance. The service answers 503 `STORE_OUT_OF_MEMORY` with
 * Retry-After (it answered 500 INTERNAL, logged with a stack per request), and the gateway passes
 * it on without counting it against the instance, so reads Redis still serves keep being routed
 * (the 500s opened every instance's breaker).
 */
import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { CLIENT_HEADER } from "../lib/http/headers.js";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { startService } from "../lib/runtime/service-host.js";
import { createInventoryService } from "../services/inventory/service.js";
import { describeWithRedis } from "../test-support/redis.js";
import { createGateway } from "./gateway.js";

/** Puts Redis at maxmemory (below what it uses, so no write that may grow memory runs). */
async function fillUp(redis: Redis): Promise<void> {
  const used = Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1]);
  await redis.config("SET", "maxmemory-policy", "noeviction");
  await redis.config("SET", "maxmemory", String(Math.floor(used / 2)));
  await expect(redis.set("ordinary-write", "x")).rejects.toThrow(/^OOM /);
}

type Answer = { status: number; code: string | undefined; retryAfter: string | null };

async function answer(res: Response): Promise<Answer> {
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code, retryAfter: res.headers.get("retry-after") };
}

describeWithRedis("a Redis at maxmemory (noeviction)", (getRedis) => {
  it("answers writes 503 STORE_OUT_OF_MEMORY with Retry-After, opens no breaker, and reads stay routed", async () => {
    await getRedis().flush();
    const admin = getRedis().client();
    const platform = createRedisPlatform({ url: getRedis().url });
    const seed = [{ productId: "prod-1", name: "One", price: 100, quantity: 10 }];
    const inventory = await startService(createInventoryService({ seed }), {
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
      // Low, so that counting the refusals as failures would surely open it.
      breaker: { failureThreshold: 3 },
    });
    gateway.proxy.discovery.invalidate();
    try {
      const [instance] = await platform.registry.list("inventory");
      expect(instance).toBeDefined();
      const breaker = gateway.proxy.breakerFor(instance!);
      breaker.on("stateChange", (change: { to: string; breaker: string }) => {
        if (change.to === "OPEN") opened.push(change.breaker);
      });
      await fillUp(admin);
      const restock = (base: string) =>
        fetch(`${base}/inventory/prod-1/restock`, {
          method: "POST",
          headers: { "content-type": "application/json", [CLIENT_HEADER]: "ops" },
          body: JSON.stringify({ quantity: 1 }),
          signal: AbortSignal.timeout(30_000),
        });
      const refused = { status: 503, code: "STORE_OUT_OF_MEMORY", retryAfter: "1" };
      // The service itself, over HTTP.
      expect(await answer(await restock(inventory.url))).toEqual(refused);
      // Through the gateway, more times than the breaker's threshold.
      for (let i = 0; i < 6; i++) expect(await answer(await restock(gateway.url))).toEqual(refused);
      expect(opened).toEqual([]);
      expect(breaker.state).toBe("CLOSED");
      const get = await fetch(`${gateway.url}/inventory/prod-1`, { signal: AbortSignal.timeout(30_000) });
      expect(get.status).toBe(200);
    } finally {
      await admin.config("SET", "maxmemory", "0");
      await gateway.stop();
      await inventory.stop();
      await platform.close();
    }
  }, 120_000);
});
