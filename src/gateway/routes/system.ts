/** The gateway's own routes: health, the registry's view, per-service health, metrics, OpenAPI. */
import type { FastifyInstance } from "fastify";
import { AggregatorRegistry } from "prom-client";
import type { ServiceInstance, ServiceRegistry } from "../../lib/discovery/types.js";
import { notFound } from "../../lib/http/errors.js";
import type { Metrics } from "../../lib/observability/metrics.js";
import { type HealthGet, serviceHealth } from "../service-health.js";
import { memoryDegraded, type RedisMemory } from "../redis-memory.js";
import type { RouteDoc } from "./types.js";

export interface SystemRouteDeps {
  registry: ServiceRegistry;
  metrics: Metrics;
  /** Other metrics of this process served with the gateway's own (embedded mode). */
  metricsOf?: () => readonly Metrics[];
  instanceId: string;
  version: string;
  /** Services answered for even with no live instance ("unavailable" rather than 404). */
  knownServices: ReadonlySet<string>;
  ping: () => Promise<boolean>;
  healthGet: HealthGet;
  openapi: () => unknown;
  /** Ms on a monotonic source: times uptime and health-check latency (local durations). */
  monotonicNow: () => number;
  /** Redis memory as last read (redis-memory.ts; every 15 s, never per request); absent in memory mode. */
  redisMemory?: () => RedisMemory | undefined;
}

export function registerSystemRoutes(app: FastifyInstance, deps: SystemRouteDeps): void {
  const startedAt = deps.monotonicNow();
  // 503 "unavailable" when Redis does not answer; 200 "degraded" when it answers with used memory
  // at 95 % of maxmemory or more (writes are about to be refused, reads still work: a load
  // balancer must not take every gateway out for it); `redis` once its memory has been read.
  app.get("/health", async (_request, reply) => {
    const checks = { store: await deps.ping() };
    const ok = Object.values(checks).every(Boolean);
    const memory = deps.redisMemory?.();
    // The memory is the last reading; while Redis does not answer its status says so, not "ok"
    // from that old reading beside a 503 (newuser19 F7).
    const redis = memory && {
      status: !ok
        ? ("unavailable" as const)
        : memoryDegraded(memory)
          ? ("degraded" as const)
          : ("ok" as const),
      memory: { usedBytes: memory.usedBytes, maxBytes: memory.maxBytes },
    };
    return reply.code(ok ? 200 : 503).send({
      status: !ok ? "unavailable" : redis?.status === "degraded" ? "degraded" : "ok",
      service: "gateway",
      instanceId: deps.instanceId,
      version: deps.version,
      uptimeMs: deps.monotonicNow() - startedAt,
      checks,
      ...(redis ? { redis } : {}),
    });
  });
  app.get("/services", async () => ({ services: groupByService(await deps.registry.list()) }));
  app.get<{ Params: { name: string } }>("/services/:name/health", async (request) => {
    const { name } = request.params;
    const instances = await deps.registry.list(name);
    if (instances.length === 0 && !deps.knownServices.has(name)) throw notFound("Service", name);
    return serviceHealth(name, instances, deps.healthGet, deps.monotonicNow);
  });
  app.get("/metrics", async (_request, reply) => {
    const others = deps.metricsOf?.() ?? [];
    if (others.length === 0) {
      return reply.header("content-type", deps.metrics.contentType).send(await deps.metrics.metricsText());
    }
    // One exposition: metric families merged by name, series told apart by their `service` label.
    const all = [deps.metrics, ...others];
    const merged = AggregatorRegistry.aggregate(
      await Promise.all(all.map((m) => m.registry.getMetricsAsJSON())),
    );
    return reply.header("content-type", merged.contentType).send(await merged.metrics());
  });
  app.get("/openapi.json", async () => deps.openapi());
}

function groupByService(instances: readonly ServiceInstance[]) {
  const byName = new Map<string, ServiceInstance[]>();
  for (const instance of instances) {
    const list = byName.get(instance.service) ?? [];
    list.push(instance);
    byName.set(instance.service, list);
  }
  return [...byName.keys()].sort().map((name) => ({
    name,
    instances: (byName.get(name) ?? []).map(
      ({ instanceId, address, port, version, status, lastHeartbeat, startedAt }) => ({
        instanceId,
        address,
        port,
        version,
        status,
        lastHeartbeat,
        startedAt,
        // Where Prometheus scrapes this instance (every service serves /metrics on its own port).
        metricsUrl: `http://${address.includes(":") ? `[${address}]` : address}:${port}/metrics`,
      }),
    ),
  }));
}

const tag = "Gateway";

export const systemRouteDocs: RouteDoc[] = [
  {
    method: "GET",
    url: "/health",
    tag,
    summary: "Gateway health check (open without an API key)",
    authenticated: false,
    responses: {
      200: "{ status: 'ok' | 'degraded', service: 'gateway', ..., checks, redis?: { status, memory: { usedBytes, maxBytes } } }: degraded when Redis's used memory is at 95 % of maxmemory or more",
      503: "Backing store unreachable",
    },
  },
  {
    method: "GET",
    url: "/services",
    tag,
    summary: "List all registered services with their instances",
    responses: { 200: "{ services: [{ name, instances: [...] }] }" },
  },
  {
    method: "GET",
    url: "/services/:name/health",
    tag,
    summary: "Call every instance's /health: healthy, degraded or unavailable",
    responses: { 200: "{ service, status, instances }", 404: "Unknown service" },
  },
  {
    method: "GET",
    url: "/metrics",
    tag,
    summary: "Prometheus metrics of the gateway",
    responses: { 200: "Prometheus text exposition" },
  },
  {
    method: "GET",
    url: "/openapi.json",
    tag,
    summary: "This document",
    responses: { 200: "OpenAPI 3.1 document" },
  },
  {
    method: "GET",
    url: "/asyncapi.json",
    tag,
    summary: "The event catalog as an AsyncAPI 3 document (every event, its owner and payload schema)",
    responses: { 200: "AsyncAPI document" },
  },
];
