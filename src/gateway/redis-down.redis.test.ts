/**
 * Review finding 2 over real HTTP and a real Redis that is killed: with the store unreachable every
 * gateway route answers 503 SERVICE_UNAVAILABLE with Retry-After within a few seconds (each store
 * read is bounded to 1 s), instead of waiting for a reconnect that never comes.
 */
import { expect, it } from "vitest";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { describeWithRedis } from "../test-support/redis.js";
import { createGateway } from "./gateway.js";

const ROUTES = ["/services", "/services/inventory/health", "/orders", "/inventory", "/dlq", "/dlq/some-id"];

describeWithRedis("gateway with Redis down", (getRedis) => {
  it("answers every route 503 SERVICE_UNAVAILABLE with Retry-After, fast", async ({ skip }) => {
    const redis = getRedis();
    if (!redis.owned) skip(); // an external Redis cannot be killed by the test
    const platform = createRedisPlatform({ url: redis.url, onError: () => {} });
    const gateway = await createGateway({
      platform,
      port: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      healthCheckIntervalMs: 0,
    });
    try {
      await redis.kill();
      for (const route of ROUTES) {
        const started = Date.now();
        const res = await fetch(`${gateway.url}${route}`, { signal: AbortSignal.timeout(15_000) });
        const body = (await res.json()) as { error?: { code?: string } };
        // Bound 1 s per store read; the margin is for a loaded machine, not the expected time.
        expect({ route, status: res.status, code: body.error?.code }).toEqual({
          route,
          status: 503,
          code: "SERVICE_UNAVAILABLE",
        });
        expect(res.headers.get("retry-after")).toBe("1");
        expect(Date.now() - started).toBeLessThan(5_000);
      }
    } finally {
      await Promise.race([gateway.stop(), new Promise((r) => setTimeout(r, 3_000))]);
      await platform.close();
      await redis.start();
    }
  }, 60_000);
});
