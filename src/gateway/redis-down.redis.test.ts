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
import { startTestUpstream } from "./test-upstream.js";

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

  it("serves from the last known instances while the registry is down, and says 503 fast for a silent one", async ({
    skip,
  }) => {
    const redis = getRedis();
    if (!redis.owned) skip();
    await redis.flush();
    const platform = createRedisPlatform({ url: redis.url, onError: () => {} });
    const gateway = await createGateway({
      platform,
      port: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      healthCheckIntervalMs: 0,
      // Every request reads the registry: the first read after the kill finds it down (a list cached
      // a moment before would still count as verified, and race the kill).
      discoveryCacheTtlMs: 0,
      upstreamTimeoutMs: 15_000,
    });
    const users = await startTestUpstream(platform.registry, "user", "user-a");
    // Stands for an instance stuck on its own dead Redis, or frozen: it accepts and never answers.
    const inventory = await startTestUpstream(platform.registry, "inventory", "inventory-a");
    const get = (path: string) => fetch(`${gateway.url}${path}`, { signal: AbortSignal.timeout(20_000) });
    try {
      // Both lists known (cached) while Redis is up.
      expect((await get("/users/u-1")).status).toBe(200);
      expect((await get("/inventory/p-1")).status).toBe(200);
      inventory.answer(() => ({ status: 200, hang: true }));
      await redis.kill();

      // A request that can be served is: the user instance answers as before.
      expect((await get("/users/u-1")).status).toBe(200);
      // The silent instance's lease cannot be verified: 503 within the short budget, not 504 after 15 s.
      const started = Date.now();
      const res = await get("/inventory/p-1");
      const text = await res.text();
      const body = JSON.parse(text || "{}") as { error?: { code?: string; message?: string } };
      expect({ status: res.status, code: body.error?.code }).toEqual({
        status: 503,
        code: "SERVICE_UNAVAILABLE",
      });
      expect(body.error?.message).toMatch(/cannot be verified/);
      expect(res.headers.get("retry-after")).not.toBeNull();
      // 2 s budget + 1 s registry read; the rest is margin for a loaded machine.
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      await Promise.race([gateway.stop(), new Promise((r) => setTimeout(r, 3_000))]);
      // The hanging instance's server waits for its open request: bounded like the gateway's stop.
      await Promise.race([
        Promise.all([users.close(), inventory.close()]).catch(() => {}),
        new Promise((r) => setTimeout(r, 3_000)),
      ]);
      await platform.close();
      await redis.start();
    }
  }, 60_000);
  it("answers GETs within 2 s each while Redis stays down, from the last known instances", async ({
    skip,
  }) => {
    const redis = getRedis();
    if (!redis.owned) skip();
    await redis.flush();
    const platform = createRedisPlatform({ url: redis.url, onError: () => {} });
    const gateway = await createGateway({
      platform,
      port: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      healthCheckIntervalMs: 0,
      // The default cache time (1 s): the window below spans several expiries of the list.
    });
    const users = await startTestUpstream(platform.registry, "user", "user-a");
    // A client that gives up after 2 s: every answer must come before.
    const get = (path: string) => fetch(`${gateway.url}${path}`, { signal: AbortSignal.timeout(2_000) });
    try {
      expect((await get("/users/u-1")).status).toBe(200);
      await redis.kill();
      const killedAt = Date.now();
      let served = 0;
      // Back to back for 4 s, past four expiries of the cached list: none may wait for the dead Redis.
      while (Date.now() - killedAt < 4_000) {
        const res = await get("/users/u-1");
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        served++;
      }
      expect(served).toBeGreaterThan(2);
    } finally {
      await Promise.race([gateway.stop(), new Promise((r) => setTimeout(r, 3_000))]);
      await Promise.race([users.close().catch(() => {}), new Promise((r) => setTimeout(r, 3_000))]);
      await platform.close();
      await redis.start();
    }
  }, 60_000);
});
