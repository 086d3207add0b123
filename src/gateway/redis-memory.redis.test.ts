/**
 * memalert, over real HTTP and a real Redis: the gateway reads Redis's memory (INFO memory) on a
 * timer and shows it before writes are refused: `ordersaga_redis_memory_used_bytes` and
 * `ordersaga_redis_maxmemory_bytes` on its /metrics, and GET /health `degraded` (still 200: reads
 * work) with the numbers when used is at 95 % of maxmemory or more; with maxmemory 0 (no limit),
 * never degraded.
 */
import { expect, it } from "vitest";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { createGateway } from "./gateway.js";

type Health = {
  status: string;
  checks: { store: boolean };
  redis?: { status: string; memory: { usedBytes: number; maxBytes: number } };
};

const gauge = (text: string, name: string): number | undefined => {
  const match = new RegExp(`^${name}\\{[^}]*service="gateway"[^}]*\\} (\\d+)$`, "m").exec(text);
  return match ? Number(match[1]) : undefined;
};

describeWithRedis("Redis memory watched by the gateway", (getRedis) => {
  it("exports used and max, and says degraded at 95 % of maxmemory (200); not with no limit", async () => {
    await getRedis().flush();
    const admin = getRedis().client();
    const platform = createRedisPlatform({ url: getRedis().url });
    const gateway = await createGateway({
      platform,
      port: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      healthCheckIntervalMs: 0,
      redisMemoryIntervalMs: 100,
    });
    const health = async () => {
      const res = await fetch(`${gateway.url}/health`, { signal: AbortSignal.timeout(10_000) });
      return { status: res.status, body: (await res.json()) as Health };
    };
    const metrics = async () =>
      (await fetch(`${gateway.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    try {
      // No limit (maxmemory 0): the numbers are shown, nothing is degraded.
      await admin.config("SET", "maxmemory", "0");
      const free = await waitFor(
        async () => {
          const h = await health();
          return h.body.redis?.memory.maxBytes === 0 ? h : undefined;
        },
        10_000,
        "a read with maxmemory 0",
      );
      expect(free.status).toBe(200);
      expect(free.body.status).toBe("ok");
      expect(free.body.redis?.status).toBe("ok");
      expect(free.body.redis?.memory.usedBytes).toBeGreaterThan(0);
      expect(gauge(await metrics(), "ordersaga_redis_maxmemory_bytes")).toBe(0);

      // A limit below what Redis uses: used ≥ 95 % of it.
      const used = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1]);
      const limit = Math.floor(used * 0.9);
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.config("SET", "maxmemory", String(limit));
      const full = await waitFor(
        async () => {
          const h = await health();
          return h.body.redis?.memory.maxBytes === limit ? h : undefined;
        },
        10_000,
        "a read with the small maxmemory",
      );
      expect(full.status).toBe(200);
      expect(full.body.status).toBe("degraded");
      expect(full.body.checks).toEqual({ store: true });
      expect(full.body.redis?.status).toBe("degraded");
      expect(full.body.redis!.memory.usedBytes).toBeGreaterThanOrEqual(limit * 0.95);
      const text = await metrics();
      expect(gauge(text, "ordersaga_redis_maxmemory_bytes")).toBe(limit);
      expect(gauge(text, "ordersaga_redis_memory_used_bytes")).toBeGreaterThanOrEqual(limit * 0.95);
      expect(text).toMatch(/^# TYPE ordersaga_redis_memory_used_bytes gauge$/m);

      // The limit lifted again: no longer degraded at the next read.
      await admin.config("SET", "maxmemory", "0");
      const back = await waitFor(
        async () => {
          const h = await health();
          return h.body.redis?.memory.maxBytes === 0 ? h : undefined;
        },
        10_000,
        "a read after the limit is lifted",
      );
      expect(back.body.status).toBe("ok");
      expect(back.body.redis?.status).toBe("ok");
    } finally {
      await admin.config("SET", "maxmemory", "0");
      await gateway.stop();
      await platform.close();
    }
  }, 60_000);
});
