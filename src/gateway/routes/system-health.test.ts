/**
 * GET /health's `redis` part against what the gateway knows: the memory is its last reading (every
 * 15 s), so while Redis does not answer the part says "unavailable", never "ok" from that old
 * reading beside a 503 (newuser19 F7).
 */
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { MemoryServiceRegistry } from "../../lib/discovery/memory-registry.js";
import { Metrics } from "../../lib/observability/metrics.js";
import type { RedisMemory } from "../redis-memory.js";
import { registerSystemRoutes } from "./system.js";

async function health(answers: boolean, memory: RedisMemory | undefined) {
  const app = Fastify();
  registerSystemRoutes(app, {
    registry: new MemoryServiceRegistry(),
    metrics: new Metrics({ service: "gateway" }),
    instanceId: "gw-1",
    version: "test",
    knownServices: new Set(),
    ping: async () => answers,
    healthGet: async () => ({ status: 200, headers: {}, body: Buffer.from("{}") }),
    openapi: () => ({}),
    monotonicNow: () => 0,
    redisMemory: () => memory,
  });
  try {
    const res = await app.inject({ method: "GET", url: "/health" });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  } finally {
    await app.close();
  }
}

describe("GET /health's redis part", () => {
  const plenty = { usedBytes: 1_000, maxBytes: 100_000 };
  const full = { usedBytes: 99_000, maxBytes: 100_000 };

  it("Redis not answering: 503 unavailable, and redis.status unavailable with the last memory reading", async () => {
    for (const memory of [plenty, full]) {
      const { status, body } = await health(false, memory);
      expect(status).toBe(503);
      expect(body).toMatchObject({ status: "unavailable", checks: { store: false } });
      expect(body.redis).toEqual({ status: "unavailable", memory });
    }
  });

  it("Redis answering: ok, or degraded at 95% of maxmemory", async () => {
    expect((await health(true, plenty)).body).toMatchObject({ status: "ok", redis: { status: "ok" } });
    expect((await health(true, full)).body).toMatchObject({
      status: "degraded",
      redis: { status: "degraded" },
    });
    expect((await health(true, undefined)).body.redis).toBeUndefined();
  });
});
