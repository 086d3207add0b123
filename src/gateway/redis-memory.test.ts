/**
 * The Redis memory watch (redis-memory.ts) without a Redis: the INFO parsing, the 95 % rule, a failed
 * read that keeps the last values and warns once a minute at most, no doubled read, the timer
 * cleared by stop; and the memory mode, where there is no Redis to read (no gauges, no `redis` field).
 */
import { Registry } from "prom-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../lib/observability/logger.js";
import { createMemoryPlatform } from "../lib/runtime/platform.js";
import { createGateway } from "./gateway.js";
import {
  memoryDegraded,
  parseInfoMemory,
  REDIS_MEMORY_READ_INTERVAL_MS,
  watchRedisMemory,
} from "./redis-memory.js";

const info = (used: number, max: number) =>
  `# Memory\r\nused_memory:${used}\r\nused_memory_human:1M\r\nused_memory_rss:9\r\nmaxmemory:${max}\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n`;

async function gauges(registry: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const metric of await registry.getMetricsAsJSON()) out[metric.name] = metric.values[0]!.value;
  return out;
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the Redis memory watch", () => {
  it("reads used_memory and maxmemory (not their _human or _rss lines) and degrades at 95 % of a limit", () => {
    expect(parseInfoMemory(info(1_000, 2_000))).toEqual({ usedBytes: 1_000, maxBytes: 2_000 });
    expect(parseInfoMemory("# Memory\r\nused_memory_rss:5\r\n")).toBeUndefined();
    expect(memoryDegraded({ usedBytes: 950, maxBytes: 1_000 })).toBe(true);
    expect(memoryDegraded({ usedBytes: 949, maxBytes: 1_000 })).toBe(false);
    expect(memoryDegraded({ usedBytes: 10 ** 12, maxBytes: 0 })).toBe(false);
  });

  it("has no gauge before its first read; a failed read keeps the last values and warns once a minute at most", async () => {
    const registry = new Registry();
    const warn = vi.fn();
    let now = 0;
    let answer: () => Promise<string> = () => Promise.reject(new Error("NOPERM"));
    const watch = watchRedisMemory({
      redis: { info: () => answer() },
      registry,
      logger: { warn },
      monotonicNow: () => now,
    });
    await watch.read();
    expect(await gauges(registry)).toEqual({});
    expect(watch.last()).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    answer = async () => info(900, 1_000);
    await watch.read();
    expect(await gauges(registry)).toEqual({
      ordersaga_redis_memory_used_bytes: 900,
      ordersaga_redis_maxmemory_bytes: 1_000,
    });
    answer = () => Promise.reject(new Error("Connection is closed."));
    for (let i = 0; i < 4; i++) {
      now += 15_000;
      await watch.read();
    }
    // Failures at 15, 30, 45 and 60 s after the first warning (at 0): one more warning, at 60 s.
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[1]![0]).toMatchObject({ failures: 4 });
    expect(watch.last()).toEqual({ usedBytes: 900, maxBytes: 1_000 });
    expect(await gauges(registry)).toEqual({
      ordersaga_redis_memory_used_bytes: 900,
      ordersaga_redis_maxmemory_bytes: 1_000,
    });
  });

  it("reads at start and every 15 s, never twice at once, and stop clears the timer", async () => {
    vi.useFakeTimers();
    let calls = 0;
    let release: (() => void) | undefined;
    const watch = watchRedisMemory({
      redis: {
        info: () => {
          calls++;
          return new Promise<string>((resolve) => {
            release = () => resolve(info(1, 0));
          });
        },
      },
      registry: new Registry(),
      logger: { warn: () => {} },
      monotonicNow: () => Date.now(),
    });
    watch.start();
    expect(calls).toBe(1);
    // Unanswered (Redis down: ioredis queues the command): no second INFO behind it.
    await vi.advanceTimersByTimeAsync(3 * REDIS_MEMORY_READ_INTERVAL_MS);
    expect(calls).toBe(1);
    release!();
    await vi.advanceTimersByTimeAsync(REDIS_MEMORY_READ_INTERVAL_MS);
    expect(calls).toBe(2);
    release!();
    await vi.advanceTimersByTimeAsync(0);
    expect(watch.last()).toEqual({ usedBytes: 1, maxBytes: 0 });
    watch.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5 * REDIS_MEMORY_READ_INTERVAL_MS);
    expect(calls).toBe(2);
  });

  it("is not run in memory mode: no gauges, no `redis` field in /health", async () => {
    const platform = createMemoryPlatform();
    const gateway = await createGateway({
      platform,
      port: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      healthCheckIntervalMs: 0,
    });
    try {
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as Record<string, unknown>;
      expect(health.status).toBe("ok");
      expect(health).not.toHaveProperty("redis");
      expect(await (await fetch(`${gateway.url}/metrics`)).text()).not.toContain("ordersaga_redis_");
    } finally {
      await gateway.stop();
      await platform.close();
    }
  });
});
